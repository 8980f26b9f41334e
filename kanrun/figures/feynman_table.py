"""The 27 dimensionless Feynman equations of the KAN paper's Table 2, with its results.

The expressions are the paper's dimensionless forms (ratios of like quantities renamed
a, b, ...); the input ranges are ours (the paper does not list them), chosen so every
expression is finite and smooth on its box. Paper columns (test RMSE), from
../shared/reference/paper-results.md 1c': human-constructed shape, smallest pruned shape
with RMSE < 1e-2, best pruned shape, pruned loss, unpruned loss, MLP loss.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table2Equation:
    name: str
    expr: str
    ranges: dict  # variable -> [low, high]
    paper_pruned_shape: str
    paper_pruned: float
    paper_unpruned: float
    paper_mlp: float


U = [-1.0, 1.0]
P = [0.0, 1.0]
EQUATIONS = [
    Table2Equation("I.6.2", "exp(-theta**2/(2*sigma**2))/sqrt(2*pi*sigma**2)",
                   {"theta": U, "sigma": [0.5, 2.0]}, "[2,2,1]", 2.86e-5, 4.60e-5, 1.45e-4),
    Table2Equation("I.6.2b", "exp(-(theta - theta1)**2/(2*sigma**2))/sqrt(2*pi*sigma**2)",
                   {"theta": U, "theta1": U, "sigma": [0.5, 2.0]}, "[3,4,1]", 4.45e-4,
                   1.25e-3, 7.40e-4),
    Table2Equation("I.9.18", "a/((b - 1)**2 + (c - d)**2 + (e - f)**2)",
                   {"a": U, "b": [-1.0, 0.0], "c": U, "d": U, "e": U, "f": U},
                   "[6,4,1,1]", 8.62e-3, 6.56e-3, 1.59e-3),
    Table2Equation("I.12.11", "1 + a*sin(theta)", {"a": U, "theta": U}, "[2,2,1]", 1.39e-3,
                   9.13e-4, 6.71e-4),
    Table2Equation("I.13.12", "a*(1/b - 1)", {"a": U, "b": [0.5, 2.0]}, "[2,2,1]", 4.81e-3,
                   2.72e-3, 1.42e-3),
    Table2Equation("I.15.3x", "(1 - a)/sqrt(1 - b**2)", {"a": U, "b": [-0.9, 0.9]},
                   "[2,1,1]", 1.58e-3, 1.14e-3, 8.54e-4),
    Table2Equation("I.16.6", "(a + b)/(1 + a*b)", {"a": [-0.9, 0.9], "b": [-0.9, 0.9]},
                   "[2,2,1]", 1.19e-3, 1.53e-3, 6.20e-4),
    Table2Equation("I.18.4", "(1 + a*b)/(1 + a)", {"a": P, "b": U}, "[2,2,1]", 1.50e-4,
                   1.32e-3, 3.68e-4),
    Table2Equation("I.26.2", "asin(n*sin(theta2))", {"n": U, "theta2": U}, "[2,2,1]",
                   7.90e-4, 8.63e-4, 1.24e-3),
    Table2Equation("I.27.6", "1/(1 + a*b)", {"a": P, "b": P}, "[2,1,1]", 1.94e-4, 2.14e-4,
                   2.46e-4),
    Table2Equation("I.29.16", "sqrt(1 + a**2 - 2*a*cos(theta1 - theta2))",
                   {"a": [0.0, 0.5], "theta1": U, "theta2": U}, "[3,2,2,1]", 3.99e-3,
                   3.20e-3, 4.64e-3),
    Table2Equation("I.30.3", "sin(n*theta/2)**2/sin(theta/2)**2",
                   {"n": [1.0, 3.0], "theta": [0.5, 2.0]}, "[2,4,3,1]", 1.03e-3, 1.11e-2,
                   1.50e-2),
    Table2Equation("I.30.5", "asin(a/n)", {"a": U, "n": [1.5, 3.0]}, "[2,1,1]", 3.49e-5,
                   6.92e-5, 9.45e-5),
    Table2Equation("I.37.4", "1 + a + 2*sqrt(a)*cos(delta)", {"a": [0.1, 1.0], "delta": U},
                   "[2,2,1]", 4.91e-6, 3.41e-4, 5.67e-4),
    Table2Equation("I.40.1", "n0*exp(-a)", {"n0": P, "a": U}, "[2,2,1]", 5.01e-4, 3.12e-4,
                   3.99e-4),
    Table2Equation("I.44.4", "n*log(a)", {"n": P, "a": [0.5, 2.0]}, "[2,2,1]", 2.43e-5,
                   1.10e-4, 3.99e-4),
    Table2Equation("I.50.26", "cos(a) + alpha*cos(a)**2", {"a": U, "alpha": U}, "[2,3,1]",
                   5.82e-4, 4.90e-4, 1.53e-3),
    Table2Equation("II.2.42", "(a - 1)*b", {"a": U, "b": U}, "[2,2,1]", 7.22e-4, 1.22e-3,
                   1.81e-4),
    Table2Equation("II.6.15a", "c*sqrt(a**2 + b**2)/(4*pi)", {"a": U, "b": U, "c": U},
                   "[3,2,1,1]", 3.28e-3, 1.35e-3, 5.92e-4),
    Table2Equation("II.11.7", "n0*(1 + a*cos(theta))", {"n0": U, "a": U, "theta": U},
                   "[3,3,1,1]", 8.52e-3, 5.03e-3, 5.92e-4),
    Table2Equation("II.11.27", "n*alpha/(1 - n*alpha/3)", {"n": P, "alpha": P}, "[2,1,1]",
                   4.40e-5, 1.43e-5, 7.18e-5),
    Table2Equation("II.35.18", "n0/(exp(a) + exp(-a))", {"n0": U, "a": U}, "[2,1,1]",
                   1.58e-4, 7.71e-5, 7.92e-5),
    Table2Equation("II.36.38", "a + alpha*b", {"a": U, "alpha": U, "b": U}, "[3,2,1]",
                   1.15e-3, 3.03e-3, 2.15e-3),
    Table2Equation("II.38.3", "a/b", {"a": U, "b": [0.5, 2.0]}, "[2,1,1]", 8.78e-5, 6.43e-4,
                   5.26e-4),
    Table2Equation("III.9.52", "a*sin((b - c)/2)**2/((b - c)/2)**2",
                   {"a": U, "b": U, "c": [1.5, 2.5]}, "[3,3,2,1]", 3.90e-3, 2.11e-2, 9.07e-4),
    Table2Equation("III.10.19", "sqrt(1 + a**2 + b**2)", {"a": U, "b": U}, "[2,1,1]",
                   1.18e-3, 8.16e-4, 1.67e-4),
    Table2Equation("III.17.37", "beta*(1 + alpha*cos(theta))",
                   {"beta": U, "alpha": U, "theta": U}, "[3,3,1]", 5.03e-4, 4.12e-4, 6.80e-4),
]
