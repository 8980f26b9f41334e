"""KAN: the network (:mod:`kanrun.kan.network`) with pykan's methods.

Every method below the constructor is a thin wrapper of a plain function that takes the
model as its first argument: :mod:`~kanrun.kan.fit`, :mod:`~kanrun.kan.attribution`,
:mod:`~kanrun.kan.prune`, :mod:`~kanrun.kan.plot`, :mod:`~kanrun.kan.symbolic`,
:mod:`~kanrun.kan.checkpoint`. Arguments pykan passes positionally stay positional
(``model.prune_node(1e-2)``, ``model.fix_symbolic(0, 0, 0, 'sin')``, ``model.refine(10)``);
every other argument is keyword-only and named as in the wrapped function.

Methods that measure activations take sample inputs ``x`` (a tensor, or a dataset dict whose
``train_input`` is used). Without ``x`` they use ``model.reference_inputs``: the inputs of
the last ``model(x)``, the training inputs of the last ``fit``, or the last ``x`` given to
one of these methods. As in pykan, ``model.fit(dataset)`` followed by ``model.plot()``,
``model.prune()`` or ``model.auto_symbolic()`` just works.

Nothing here prints unless asked (``verbose``), and no file is written unless a ``path``,
``folder`` or checkpoint name is given.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from . import attribution, checkpoint, interpret
from . import plot as plots
from . import prune as pruning
from .fit import fit as _fit
from .network import KANNetwork
from .spec import KANConfigError, KANSpec, dtype_name, normalize_width, resolve_dtype, spec_fields
from .symbolic import auto, search


class KAN(KANNetwork):
    """Kolmogorov-Arnold Network (pykan-compatible constructor arguments).

    ``KAN(width=[2, 5, 1], grid=5, k=3, seed=0)`` takes the fields of
    :class:`~kanrun.kan.spec.KANSpec` (pykan's names and defaults) plus ``device``;
    ``KAN.from_spec(spec)`` builds from a spec. ``dtype=None`` follows torch's default dtype.
    """

    def __init__(self, *args, spec: KANSpec | None = None, device=None, **arguments):
        # positional arguments in KANSpec's field order (width, grid, k, mult_arity, ...)
        names = spec_fields()
        if len(args) > len(names) + 1:
            raise KANConfigError(f"KAN takes at most {len(names) + 1} positional arguments")
        if len(args) == len(names) + 1:
            *args, device = args
        for name, value in zip(names, args, strict=False):
            if name in arguments:
                raise KANConfigError(f"KAN got two values for {name}", name)
            arguments[name] = value
        if spec is None:
            if arguments.get("width") is None:
                raise KANConfigError("KAN needs a width (e.g. width=[2, 5, 1]) or a spec",
                                     "width")
            spec = KANSpec(**arguments)
        elif arguments:
            raise KANConfigError("give a KANSpec or the model's arguments, not both")
        super().__init__(spec, device=device)

    @classmethod
    def from_spec(cls, spec: KANSpec, device=None) -> KAN:
        return cls(spec=spec, device=device)

    # ------------------------------------------------------------ training
    # kanrun.kan.fit.fit(model, data, ...) as the method, so that help(), IDEs and type
    # checkers see its keyword arguments
    fit = _fit

    def _sample(self, x):
        return interpret.sample_inputs(self, x)

    # ------------------------------------------------------------ attribution
    def attribute(self, x=None, *, l: int | None = None, i: int | None = None, out_score=None):  # noqa: E741 (pykan's name)
        """Attribution scores (:func:`kanrun.kan.attribution.attribute`).

        With ``l`` (and ``i``): scores of the inputs for the nodes of layer ``l`` (for node
        ``i``), shape (width_in[l], n_inputs) (or (n_inputs,)), as pykan's ``attribute(l, i)``.
        """
        scores = attribution.attribute(self, self._sample(x), out_score=out_score, layer=l)
        if l is None:
            return scores
        inputs = scores.node_scores_all[0]
        return inputs if i is None else inputs[i]

    def feature_score(self, x=None):
        """Input importance: the attribution scores of the input nodes."""
        return self.attribute(x).node_scores[0]

    def activation_scales(self, x=None) -> list[dict]:
        """:func:`kanrun.kan.attribution.activation_scales`."""
        return attribution.activation_scales(self, self._sample(x))

    def get_act(self, x=None) -> list[dict]:
        """Per-layer activation records (:func:`kanrun.kan.attribution.edge_records`).

        ``records[l]`` holds ``input`` (batch, in), ``edges`` (batch, in, out) — every edge's
        activation phi_ij(x_i) — ``subnodes`` and ``nodes``. pykan stores these on the
        model (``acts``, ``spline_postacts``); kanrun returns them.
        """
        return attribution.edge_records(self, self._sample(x))

    @property
    def node_scores(self) -> list[torch.Tensor]:
        """Attribution score of every node, per layer (0 = inputs), on the reference inputs."""
        return self.attribute().node_scores

    @property
    def edge_scores(self) -> list[torch.Tensor]:
        """Attribution score of every edge, per layer, shape (in, out) (pykan: (out, in))."""
        return self.attribute().edge_scores

    @property
    def subnode_scores(self) -> list[torch.Tensor]:
        """Attribution score of every subnode, per layer."""
        return self.attribute().subnode_scores

    # ------------------------------------------------------------ pruning
    def prune_node(self, threshold: float = 1e-2, *, x=None, active_nodes=None) -> KAN:
        """:func:`kanrun.kan.prune.prune_node`: a new model without the weak hidden nodes."""
        xs = None if active_nodes is not None and x is None else self._sample(x)
        return pruning.prune_node(self, xs, threshold=threshold, active_nodes=active_nodes)

    def prune_edge(self, threshold: float = 3e-2, *, x=None) -> KAN:
        """:func:`kanrun.kan.prune.prune_edge`: a copy with the weak edges removed."""
        return pruning.prune_edge(self, self._sample(x), threshold=threshold)

    def prune(self, node_th: float = 1e-2, edge_th: float = 3e-2, *, x=None) -> KAN:
        """:func:`kanrun.kan.prune.prune`: node then edge pruning, a new smaller model."""
        return pruning.prune(self, self._sample(x), node_th=node_th, edge_th=edge_th)

    def prune_input(self, threshold: float = 1e-2, *, x=None, active_inputs=None) -> KAN:
        """:func:`kanrun.kan.prune.prune_input`: a new model without the weak inputs."""
        xs = None if active_inputs is not None and x is None else self._sample(x)
        return pruning.prune_input(self, xs, threshold=threshold, active_inputs=active_inputs)

    # ------------------------------------------------------------ symbolic
    def suggest_symbolic(self, l: int, i: int, j: int, *, x=None, lib=None, topk: int = 5,  # noqa: E741 (pykan's name)
                         weight_simple: float = 0.8, a_range=(-10, 10), b_range=(-10, 10),
                         verbose: bool = False) -> list[dict]:
        """:func:`kanrun.kan.symbolic.auto.suggest_symbolic`: the best ``topk`` functions
        for edge (l, i, j), best first. ``verbose=True`` prints them (pykan's default)."""
        cands = auto.suggest_symbolic(self, l, i, j, x=self._sample(x), lib=lib, topk=topk,
                                      weight_simple=weight_simple, a_range=a_range,
                                      b_range=b_range)
        if verbose:
            print(interpret.suggestion_table(cands))
        return cands

    def fix_symbolic(self, l: int, i: int, j: int, name: str, fit_params: bool = True, *,  # noqa: E741 (pykan's name)
                     x=None, a_range=(-10, 10), b_range=(-10, 10),
                     verbose: bool = False) -> dict:
        """:func:`kanrun.kan.symbolic.auto.fix_symbolic`: edge (l, i, j) becomes ``name``
        (parameters fitted on ``x``); returns the edge's record. ``verbose`` prints the r2."""
        rec = auto.fix_symbolic(self, l, i, j, name, x=self._sample(x) if fit_params else None,
                                fit_params=fit_params, a_range=a_range, b_range=b_range)
        if verbose:
            print(interpret.r2_line(rec))
        return rec

    def unfix_symbolic(self, l: int, i: int, j: int) -> None:  # noqa: E741 (pykan's name)
        """Return edge (l, i, j) to its spline."""
        auto.unfix_symbolic(self, l, i, j)

    def auto_symbolic(self, *, x=None, lib=None, weight_simple: float = 0.8,
                      r2_threshold: float = 0.0, zero_threshold: float = 1e-3,
                      a_range=(-10, 10), b_range=(-10, 10), y=None, method: str = "auto",
                      search_options: dict | None = None, verbose: int = 0) -> list[dict]:
        """:func:`kanrun.kan.symbolic.auto.auto_symbolic`: every numeric edge made symbolic;
        returns the decisions. ``verbose >= 1`` prints one line each (pykan's default)."""
        decisions = auto.auto_symbolic(
            self, x=self._sample(x), lib=lib, weight_simple=weight_simple,
            r2_threshold=r2_threshold, zero_threshold=zero_threshold, a_range=a_range,
            b_range=b_range, y=y, method=method, search_options=search_options)
        if verbose >= 1:
            for d in decisions:
                print(interpret.decision_line(d))
        return decisions

    def formula_search(self, x, y, **options):
        """:func:`kanrun.kan.symbolic.search.formula_from_model` (the Pareto front)."""
        return search.formula_from_model(self, x, y, **options)

    def symbolic_report(self) -> list[dict]:
        """Per edge: mode (numeric / symbolic / removed), function, r2, params, reason."""
        return auto.symbolic_report(self)

    def symbolic_formula(self, var=None, *, digits: int | None = 4,
                         simplify_seconds: float = 5.0, var_names=None):
        """pykan's pair ``(formulas, variables)`` (:func:`kanrun.kan.interpret.formula_pair`)."""
        return interpret.formula_pair(self, var, digits=digits,
                                      simplify_seconds=simplify_seconds, var_names=var_names)

    # ------------------------------------------------------------ plots
    def plot(self, folder=None, beta: float = 3.0, metric: str = "backward",
             scale: float = 0.5, tick: bool = False, sample: bool = False, in_vars=None,
             out_vars=None, title=None, varscale: float = 1.0, *, x=None, path=None):
        """The network diagram as a Figure (:func:`kanrun.kan.interpret.plot`; pykan's
        positional arguments)."""
        return interpret.plot(self, self._sample(x), folder=folder, beta=beta, metric=metric,
                              in_vars=in_vars, out_vars=out_vars, title=title, path=path)

    def plot_activations(self, x=None, *, path=None):
        """:func:`kanrun.kan.plot.plot_activations`: one panel per edge, as a Figure."""
        return plots.plot_activations(self, self._sample(x), path=path)

    # ------------------------------------------------------------ pykan conveniences
    @torch.no_grad()
    def update_grid_from_samples(self, x) -> None:
        """pykan's name for :meth:`update_grid` (knots follow the samples ``x``)."""
        self.update_grid(self._sample(x))

    @property
    def n_edge(self) -> int:
        """Number of live numeric edges."""
        return int(sum(int((layer.mask != 0).sum()) for layer in self.layers))

    @torch.no_grad()
    def evaluate(self, dataset: dict) -> dict:
        """``test_loss`` (RMSE on the test split), ``n_edge`` and ``n_grid``, as in pykan."""
        x = dataset["test_input"].to(device=self.device, dtype=self.dtype)
        y = dataset["test_label"].to(device=self.device, dtype=self.dtype)
        rmse = float(torch.sqrt(torch.mean((self(x) - y) ** 2)))
        return {"test_loss": rmse, "n_edge": self.n_edge, "n_grid": self.grid}

    def copy(self) -> KAN:
        """An independent deep copy (weights, symbolic edges, reference inputs)."""
        return copy.deepcopy(self)

    def speed(self, compile: bool = False):  # noqa: A002 - pykan's name
        """A no-op kept for pykan scripts: returns the model itself.

        pykan's ``speed()`` switches off its symbolic branch and the saved activations;
        kanrun never pays for either (the symbolic branch costs nothing until an edge is
        symbolic, activations are computed only on request). ``compile`` is ignored.
        """
        return self

    # ------------------------------------------------------------ checkpoints
    def save(self, path) -> None:
        """:func:`save_model`: one safe checkpoint file at ``path``."""
        save_model(self, path)

    @classmethod
    def load(cls, path, device=None) -> KAN:
        """:func:`load_model`."""
        return load_model(path, device=device)

    def saveckpt(self, path="model") -> Path:
        """Save spec and weights to one file ``path + '.pt'``; returns the path written.

        pykan writes ``path_config.yml``, ``path_state`` and ``path_cache_data``; kanrun
        writes one file read back by :meth:`loadckpt` or :func:`kanrun.load_model`.
        The reference inputs are not saved.
        """
        target = checkpoint.pykan_path(path)
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True)
        save_model(self, target)
        return target

    @staticmethod
    def loadckpt(path="model", device=None) -> KAN:
        """Load a model written by :meth:`saveckpt` (``path`` with or without ``.pt``)."""
        return load_model(checkpoint.pykan_path(path), device=device)


def save_model(model: KANNetwork, path) -> None:
    """Write ``model`` to ``path`` atomically (see :mod:`kanrun.kan.checkpoint`)."""
    checkpoint.write(checkpoint.model_to_dict(model), path)


def load_model(path, device=None) -> KAN:
    """Read a model saved by :func:`save_model`; ``device`` defaults to the CPU."""
    return checkpoint.model_from_dict(checkpoint.read(path), KAN, device=device)


__all__ = ["KAN", "KANConfigError", "KANSpec", "load_model", "save_model", "normalize_width",
           "resolve_dtype", "dtype_name"]
