"""Test and benchmark support: real mlflow servers and registry seeding."""
