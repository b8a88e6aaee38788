"""Keras layers of the spectral domain (DESIGN.md section 1).

``SpectralDense`` holds φ (N_in, N_out), λ_in (N_in,), λ_out (N_out,) and an optional bias, and
computes y = x W + b with W[j, i] = φ[j, i] (λ_in[j] − λ_out[i]). It never builds the square
(N_in+N_out)² operator. Which exact formulation it runs depends on what is trainable:

* λ_in frozen, ``"scaled-projection"`` (the paper's "train Λ" and "train Λ, Φ"): when λ_in is
  uniform (= c, the paper's 1), W = φ diag(c − λ_out), so y = (x φ) ⊙ (c − λ_out). With φ frozen
  the gradient of λ_out is elementwise on x φ, which the forward pass already computed: no
  weight-gradient matmul at all. With φ trained its gradient is xᵀ (∂y ⊙ (c − λ_out)), the same
  single matmul a Dense layer pays, and W is never formed. A non-uniform frozen λ_in falls back
  (inside the graph, so assigning λ_in later stays exact) to y = (x ⊙ λ_in) φ − (x φ) ⊙ λ_out
  when φ is frozen, or to the formed kernel below when φ is trained.
* λ_in trained, ``"formed-kernel"``: W is formed elementwise, then one matmul; a custom gradient
  computes G = xᵀ ∂y once and reads every trained gradient off it elementwise
  (∂φ = G ⊙ (λ_in − λ_out), ∂λ_in = Σ_i G ⊙ φ, ∂λ_out = −Σ_j G ⊙ φ), skipping frozen ones.

``MaskedDense`` is the paper's constrained direct layer: a fixed random subset of kernel entries
is trainable, the rest stay bit-identical to their initial values (they are not variables the
optimizer sees). Its product is x K₀ plus a sparse correction on the trainable entries, so the
trained values' gradient costs O(batch × trainable) instead of a weight-gradient matmul.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

PACKAGE = "spectral_lab"


def paper_phi_initializer(seed: int | None = None) -> keras.initializers.Initializer:
    """φ ~ U(−0.2, 0.2), as the paper's authors' code draws it (scheme ``paper``)."""
    return keras.initializers.RandomUniform(-0.2, 0.2, seed=seed)


def paper_eigvals_out_initializer(seed: int | None = None) -> keras.initializers.Initializer:
    """λ_out ~ U(0.5, 1.5): the authors' output diagonal 1 + U(−0.5, 0.5) (scheme ``paper``)."""
    return keras.initializers.RandomUniform(0.5, 1.5, seed=seed)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Received an invalid value for argument `{name}`. "
            f"Expected a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def formed_kernel_product(
    inputs: Any,
    phi: Any,
    eigvals_in: Any,
    eigvals_out: Any,
    *,
    phi_trainable: bool = True,
    eigvals_in_trainable: bool = True,
    eigvals_out_trainable: bool = True,
) -> Any:
    """x W with W = φ ⊙ (λ_in − λ_out) for a 2-D ``inputs``, with a hand-written gradient.

    The gradient computes G = xᵀ ∂y once (the one weight-gradient matmul) and derives the
    gradient of each trained factor from it elementwise; frozen factors get none, so their
    elementwise work is skipped rather than computed and thrown away.
    """

    @ops.custom_gradient
    def product(x: Any, phi: Any, eigvals_in: Any, eigvals_out: Any) -> Any:
        gap = ops.expand_dims(eigvals_in, 1) - ops.expand_dims(eigvals_out, 0)
        kernel = phi * gap

        def gradient(*args: Any, upstream: Any = None) -> tuple[Any, Any, Any, Any]:
            upstream = args[0] if upstream is None else upstream
            grad_x = ops.matmul(upstream, ops.transpose(kernel))
            grad_kernel = ops.matmul(ops.transpose(x), upstream)
            grad_phi = grad_kernel * gap if phi_trainable else None
            grad_in = grad_out = None
            if eigvals_in_trainable or eigvals_out_trainable:
                weighted = grad_kernel * phi
                if eigvals_in_trainable:
                    grad_in = ops.sum(weighted, axis=1)
                if eigvals_out_trainable:
                    grad_out = -ops.sum(weighted, axis=0)
            return grad_x, grad_phi, grad_in, grad_out

        return ops.matmul(x, kernel), gradient

    # ops.copy reads each variable into a plain tensor (an identity, no data copy): a custom
    # gradient must see tensors, and the gradients then flow back to the variables' reads.
    return product(inputs, ops.copy(phi), ops.copy(eigvals_in), ops.copy(eigvals_out))


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpectralDense(keras.layers.Layer):
    """A dense layer parametrised by the eigen-decomposition of its transfer operator."""

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = False,
        phi_trainable: bool = True,
        eigvals_in_trainable: bool = False,
        eigvals_out_trainable: bool = True,
        bias_trainable: bool = True,
        phi_initializer: Any = None,
        eigvals_in_initializer: Any = "ones",
        eigvals_out_initializer: Any = None,
        bias_initializer: Any = "zeros",
        telescopic: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = _check_positive_int(units, "units")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.phi_trainable = bool(phi_trainable)
        self.eigvals_in_trainable = bool(eigvals_in_trainable)
        self.eigvals_out_trainable = bool(eigvals_out_trainable)
        self.bias_trainable = bool(bias_trainable)
        self.phi_initializer = keras.initializers.get(phi_initializer or paper_phi_initializer())
        self.eigvals_in_initializer = keras.initializers.get(eigvals_in_initializer)
        self.eigvals_out_initializer = keras.initializers.get(
            eigvals_out_initializer or paper_eigvals_out_initializer()
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.telescopic = bool(telescopic)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        input_units = input_shape[-1]
        if input_units is None:
            raise ValueError(
                "SpectralDense needs a known last input dimension. "
                f"Received: input_shape={input_shape}"
            )
        self.phi = self.add_weight(
            name="phi",
            shape=(input_units, self.units),
            initializer=self.phi_initializer,
            trainable=self.phi_trainable,
        )
        self.eigvals_in = self.add_weight(
            name="eigvals_in",
            shape=(input_units,),
            initializer=self.eigvals_in_initializer,
            trainable=self.eigvals_in_trainable,
        )
        self.eigvals_out = self.add_weight(
            name="eigvals_out",
            shape=(self.units,),
            initializer=self.eigvals_out_initializer,
            trainable=self.eigvals_out_trainable,
        )
        self.bias = (
            self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                trainable=self.bias_trainable,
            )
            if self.use_bias
            else None
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_units})

    @property
    def formulation(self) -> str:
        """Name of the exact formulation ``call`` runs for the current trainable set."""
        return "formed-kernel" if self.eigvals_in.trainable else "scaled-projection"

    def kernel(self) -> Any:
        """The direct-space kernel W = φ ⊙ (λ_in − λ_out) as a tensor."""
        return self.phi * (
            ops.expand_dims(self.eigvals_in, 1) - ops.expand_dims(self.eigvals_out, 0)
        )

    def _scaled_projection(self, inputs: Any) -> Any:
        eigvals_in = ops.stop_gradient(self.eigvals_in)
        phi_trained = self.phi.trainable
        phi = self.phi if phi_trained else ops.stop_gradient(self.phi)
        first = eigvals_in[0]

        def uniform() -> Any:
            return ops.matmul(inputs, phi) * (first - self.eigvals_out)

        def general() -> Any:
            if phi_trained:
                return self._formed_kernel(inputs)
            return ops.matmul(inputs * eigvals_in, phi) - ops.matmul(inputs, phi) * self.eigvals_out

        is_uniform = ops.all(ops.equal(eigvals_in, first))
        return ops.cond(is_uniform, uniform, general)

    def _formed_kernel(self, inputs: Any) -> Any:
        return formed_kernel_product(
            inputs,
            self.phi,
            self.eigvals_in,
            self.eigvals_out,
            phi_trainable=self.phi.trainable,
            eigvals_in_trainable=self.eigvals_in.trainable,
            eigvals_out_trainable=self.eigvals_out.trainable,
        )

    # -- the frozen input projection (the training engine caches it, see projection.py) -------
    @property
    def projection_is_frozen(self) -> bool:
        """True when x φ is all the layer needs of its input and never changes in training.

        That holds when φ and λ_in are frozen and λ_in is uniform (the paper's λ_in = 1): then
        y = (x φ) ⊙ (λ_in[0] − λ_out) exactly as :meth:`call` computes it.
        """
        if self.phi.trainable or self.eigvals_in.trainable:
            return False
        eigvals_in = keras.ops.convert_to_numpy(self.eigvals_in)
        return bool(np.all(eigvals_in == eigvals_in[0]))

    def frozen_projection(self, inputs: Any) -> Any:
        """x φ for a 2-D ``inputs``: the part of the output that only depends on the input."""
        return ops.matmul(inputs, ops.stop_gradient(self.phi))

    def call_on_projection(self, projection: Any) -> Any:
        """The layer's output from a cached ``frozen_projection`` (needs projection_is_frozen)."""
        first = ops.stop_gradient(self.eigvals_in)[0]
        return self._finish(projection * (first - self.eigvals_out))

    def _finish(self, outputs: Any) -> Any:
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def call(self, inputs: Any) -> Any:
        # Flatten leading axes so the custom gradient's xᵀ ∂y is one 2-D matmul.
        leading = ops.shape(inputs)[:-1]
        flat = ops.reshape(inputs, (-1, ops.shape(inputs)[-1])) if len(leading) > 1 else inputs
        if self.formulation == "scaled-projection":
            outputs = self._scaled_projection(flat)
        else:
            outputs = self._formed_kernel(flat)
        if len(leading) > 1:
            outputs = ops.reshape(outputs, (*leading, self.units))
        return self._finish(outputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape[:-1]) + (self.units,)

    # -- numpy views for plots, retraction and export --------------------------------
    def effective_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel, bias) of the equivalent Dense layer, in float64."""
        eig_in = np.asarray(keras.ops.convert_to_numpy(self.eigvals_in), dtype=np.float64)
        eig_out = np.asarray(keras.ops.convert_to_numpy(self.eigvals_out), dtype=np.float64)
        # In place, φ upcast on the fly: the same float64 numbers as φ64 ⊙ (λ_in − λ_out) with
        # one kernel-sized array instead of three (the training engine calls this at 10 Hz).
        kernel = np.subtract.outer(eig_in, eig_out)
        kernel *= keras.ops.convert_to_numpy(self.phi)
        bias = (
            np.asarray(keras.ops.convert_to_numpy(self.bias), dtype=np.float64)
            if self.bias is not None
            else np.zeros(self.units)
        )
        return kernel, bias

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "phi_trainable": self.phi_trainable,
                "eigvals_in_trainable": self.eigvals_in_trainable,
                "eigvals_out_trainable": self.eigvals_out_trainable,
                "bias_trainable": self.bias_trainable,
                "phi_initializer": keras.initializers.serialize(self.phi_initializer),
                "eigvals_in_initializer": keras.initializers.serialize(self.eigvals_in_initializer),
                "eigvals_out_initializer": keras.initializers.serialize(
                    self.eigvals_out_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "telescopic": self.telescopic,
            }
        )
        return config


def subset_indices(input_units: int, units: int, count: int, seed: int) -> np.ndarray:
    """Flat indices (sorted) of the ``count`` trainable entries of an (input_units, units) kernel."""
    size = input_units * units
    if not 0 <= count <= size:
        raise ValueError(
            f"trainable_count must be from 0 to {size} for a {input_units}x{units} kernel. "
            f"Received: trainable_count={count}"
        )
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(size, size=count, replace=False)).astype("int64")


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedDense(keras.layers.Layer):
    """Dense layer whose kernel has only ``trainable_count`` trainable entries (seeded choice).

    The frozen entries live in a non-trainable variable; the trainable ones in a separate
    vector scattered over it, so no optimizer can ever move a frozen entry.
    """

    def __init__(
        self,
        units: int,
        trainable_count: int,
        mask_seed: int = 0,
        activation: Any = None,
        use_bias: bool = False,
        kernel_initializer: Any = None,
        bias_initializer: Any = "zeros",
        telescopic: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = _check_positive_int(units, "units")
        if isinstance(trainable_count, bool) or not isinstance(trainable_count, (int, np.integer)):
            raise ValueError(
                f"Expected an integer trainable_count. Received: trainable_count={trainable_count!r}"
            )
        self.trainable_count = int(trainable_count)
        self.mask_seed = int(mask_seed)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.GlorotUniform()
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.telescopic = bool(telescopic)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        input_units = input_shape[-1]
        if input_units is None:
            raise ValueError(
                f"MaskedDense needs a known last input dimension. Received: input_shape={input_shape}"
            )
        flat = subset_indices(input_units, self.units, self.trainable_count, self.mask_seed)
        self._flat_indices = flat.reshape(-1, 1)
        self._rows = (flat // self.units).astype("int32")
        self._columns = (flat % self.units).astype("int32")
        self.frozen_kernel = self.add_weight(
            name="frozen_kernel",
            shape=(input_units, self.units),
            initializer=self.kernel_initializer,
            trainable=False,
        )
        self.trainable_values = self.add_weight(
            name="trainable_values",
            shape=(self.trainable_count,),
            initializer="zeros",
            trainable=True,
        )
        # Trainable entries start at the same random values as a full kernel would.
        initial = keras.ops.convert_to_numpy(self.frozen_kernel).reshape(-1)[flat]
        self.trainable_values.assign(initial)
        self.bias = (
            self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer, trainable=True
            )
            if self.use_bias
            else None
        )

    def kernel(self) -> Any:
        """The full kernel: frozen entries with the trained ones scattered in (a tensor)."""
        return self._scattered(self.trainable_values)

    # On a cached projection (the first layer, see projection.py): x K = x K₀ plus
    # Σ_k x[:, row_k] (v_k − K₀[row_k, col_k]) added into column col_k; the frozen matmul needs no
    # weight gradient and v's gradient is a gather of size batch × k.
    projection_is_frozen = True

    def frozen_projection(self, inputs: Any) -> Any:
        """x K₀ for a 2-D ``inputs``: the frozen kernel's product, which training never changes."""
        return ops.matmul(inputs, ops.stop_gradient(self.frozen_kernel))

    def call_on_projection(self, projection: Any, inputs: Any) -> Any:
        """The output from a cached ``frozen_projection`` of the same 2-D ``inputs``."""
        outputs = projection
        if self.trainable_count:
            frozen = ops.stop_gradient(self.frozen_kernel)
            replaced = ops.take(ops.reshape(frozen, (-1,)), self._flat_indices[:, 0])
            picked = ops.take(inputs, self._rows, axis=1) * (self.trainable_values - replaced)
            correction = ops.segment_sum(
                ops.transpose(picked), self._columns, num_segments=self.units, sorted=False
            )
            outputs = outputs + ops.transpose(correction)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def call(self, inputs: Any) -> Any:
        leading = ops.shape(inputs)[:-1]
        flat = ops.reshape(inputs, (-1, ops.shape(inputs)[-1])) if len(leading) > 1 else inputs
        outputs = self._kernel_product(flat)
        if self.bias is not None:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        if len(leading) > 1:
            outputs = ops.reshape(outputs, (*leading, self.units))
        return outputs

    def _kernel_product(self, inputs: Any) -> Any:
        """x K for a 2-D ``inputs``, K the frozen kernel with the trained values scattered in.

        The hand-written gradient takes ∂y Kᵀ for the input and, for each trained entry
        (r, c), Σ_b x[b, r] ∂y[b, c]: two gathers of batch × k instead of the full xᵀ ∂y
        matmul, and without the scatter-add back into x that the correction form's automatic
        gradient builds (10 % faster per Constrained NN epoch at 784→2000→120→10 under XLA).
        """
        if not self.trainable_count:
            return ops.matmul(inputs, ops.stop_gradient(self.frozen_kernel))

        @ops.custom_gradient
        def product(x: Any, values: Any) -> Any:
            kernel = self._scattered(values)

            def gradient(*args: Any, upstream: Any = None) -> tuple[Any, Any]:
                upstream = args[0] if upstream is None else upstream
                grad_x = ops.matmul(upstream, ops.transpose(kernel))
                grad_values = ops.sum(
                    ops.take(x, self._rows, axis=1) * ops.take(upstream, self._columns, axis=1),
                    axis=0,
                )
                return grad_x, grad_values

            return ops.matmul(x, kernel), gradient

        # ops.copy: the custom gradient must see a tensor, not the variable (see
        # formed_kernel_product).
        return product(inputs, ops.copy(self.trainable_values))

    def _scattered(self, values: Any) -> Any:
        flat = ops.reshape(ops.stop_gradient(self.frozen_kernel), (-1,))
        flat = ops.scatter_update(flat, self._flat_indices, values)
        return ops.reshape(flat, ops.shape(self.frozen_kernel))

    @property
    def trainable_mask(self) -> np.ndarray:
        """Boolean (N_in, N_out) array, True where the kernel entry is trainable."""
        shape = tuple(self.frozen_kernel.shape)
        mask = np.zeros(int(np.prod(shape)), dtype=bool)
        mask[self._flat_indices[:, 0]] = True
        return mask.reshape(shape)

    def effective_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel, bias) as float64 numpy arrays."""
        kernel = np.array(keras.ops.convert_to_numpy(self.frozen_kernel), dtype=np.float64)
        flat = kernel.reshape(-1)
        flat[self._flat_indices[:, 0]] = keras.ops.convert_to_numpy(self.trainable_values)
        bias = (
            np.asarray(keras.ops.convert_to_numpy(self.bias), dtype=np.float64)
            if self.bias is not None
            else np.zeros(self.units)
        )
        return flat.reshape(kernel.shape), bias

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "trainable_count": self.trainable_count,
                "mask_seed": self.mask_seed,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "telescopic": self.telescopic,
            }
        )
        return config


def effective_weights(layer: keras.layers.Layer) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) in float64 of any dense-like layer of ours or a plain ``Dense``."""
    if isinstance(layer, (SpectralDense, MaskedDense)):
        return layer.effective_weights()
    if isinstance(layer, keras.layers.Dense):
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float64)
        bias = (
            np.asarray(keras.ops.convert_to_numpy(layer.bias), dtype=np.float64)
            if layer.bias is not None
            else np.zeros(layer.units)
        )
        return kernel, bias
    raise TypeError(f"{type(layer).__name__} is not a dense-like layer")


def dense_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's dense-like layers in order (Input layers skipped)."""
    return [
        layer
        for layer in model.layers
        if isinstance(layer, (SpectralDense, MaskedDense, keras.layers.Dense))
    ]
