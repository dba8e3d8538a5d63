"""The two platforms and the relay between them. Knows the platforms; never decides."""
