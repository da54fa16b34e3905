"""pygkd: skeleton action recognition that stays accurate on low-quality skeletons, by part-level
knowledge distillation from high-quality skeletons of a possibly different topology."""
__version__ = "0.1.0"
