"""Exercises: the catalogue (data in exercises/), checks, and the walkthrough."""
