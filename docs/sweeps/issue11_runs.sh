#!/usr/bin/env bash
# Issue 11's runs, in order; every step resumes where it stopped (MNIST=path overrides the data).
# Run from anywhere: nice -n 19 docs/sweeps/issue11_runs.sh > runs/issue11.log 2>&1 &
set -u
cd "$(dirname "$0")/../.."
SL=".venv/bin/python -m spectral_core"
D="${MNIST:-../shared/data/mnist.npz}"
$SL sweep docs/sweeps/initialization_schemes.json --out runs/init_schemes -q
$SL sweep docs/sweeps/initialization_direct_full.json --out runs/init_direct_full -q
$SL sweep docs/sweeps/lambda_learning_rate.json --out runs/lambda_lr -q
$SL reproduce perceptron --dataset $D --seeds 5 --epochs 20 --out runs/perceptron -q
$SL reproduce table1 --dataset $D --seeds 5 --epochs 20 --families nonlinear,wide --sizes 1000,1500,2000 --out runs/table1_large -q
$SL reproduce table1 --dataset $D --seeds 5 --epochs 20 --families deep --out runs/table1_deep -q
echo ALL DONE
