"""A local sandbox: a real Synapse, a Discourse double, and the scripted demo."""
