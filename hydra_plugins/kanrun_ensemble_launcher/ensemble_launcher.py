"""A Hydra launcher that fits the first stages of a seed sweep's runs at once.

It is Hydra's basic launcher (the jobs run one after another in this process, one run
folder each), preceded by :func:`kanrun.pipeline.pretrain.pretrain`: runs that differ only
in their seeds get their ``train`` (and ``sparsify``) stages from one batched
:class:`~kanrun.kan.KANEnsemble` fit, identical to what each run would fit alone. Hydra
requires launchers to live in the ``hydra_plugins`` package; the config is
``kanrun/configs/hydra/launcher/kanrun_ensemble.yaml``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobReturn, configure_log

log = logging.getLogger("kanrun.run")


class EnsembleLauncher(BasicLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        from kanrun.pipeline import pretrain

        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        prepared = []
        for overrides in job_overrides:
            job = _prepared(self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)))
            if job is not None:
                prepared.append(job)
        try:
            pretrain.pretrain(prepared)
        except Exception as err:  # an optimization only: the jobs then fit on their own
            pretrain.clear()
            log.warning("ensemble launcher: the batched fit failed (%r); each run fits "
                        "alone", err)
        try:
            return super().launch(job_overrides, initial_job_idx)
        finally:
            pretrain.clear()


def _prepared(sweep_config):
    """The job's Prepared run, or None where it does not prepare (the job itself then
    reports why, as under any launcher)."""
    import torch

    from kanrun.pipeline.execute import to_run_config, user_errors
    from kanrun.pipeline.validate import check_config, prepare

    node = {k: v for k, v in sweep_config.items() if k != "hydra"}
    try:
        cfg = to_run_config(node)
        check_config(cfg)
        torch.set_num_threads(int(cfg.num_threads))
        return prepare(cfg)
    except user_errors():
        return None
