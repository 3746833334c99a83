"""The three detectors. Each is a pure function from market state to "hits"; `engine.signals` turns a
hit into a scored `Signal`, and `engine.core` applies cooldowns and caps."""
