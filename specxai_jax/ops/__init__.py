"""JAX operations the models are built from: activations, convolution, pooling, and the CPU fast forms
(:mod:`.fast_forms`) that select a faster program for one backend behind the plain form's interface."""
