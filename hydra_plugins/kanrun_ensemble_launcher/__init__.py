"""kanrun's Hydra launcher for seed sweeps (``kanrun train -m +launcher=ensemble``)."""
