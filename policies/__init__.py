"""Pure decisions: what may cross, transformed how, and why. No I/O, no clock, no database."""
