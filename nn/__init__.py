"""nn: neural networks on the autograd engine (being built)."""
