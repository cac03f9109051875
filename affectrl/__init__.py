"""affectrl: multimodal emotion recognition in conversation with RL agents."""

__version__ = "0.1.0"
