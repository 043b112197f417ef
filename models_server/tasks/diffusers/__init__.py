"""Implementations that run on diffusers: Stable Diffusion and its ControlNets, image variations, video."""
