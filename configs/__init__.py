"""kanrun's Hydra configs, packaged as `kanrun.configs` (searchpath pkg://kanrun.configs)."""
