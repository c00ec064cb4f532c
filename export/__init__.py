"""tinymoat.export: write deployment artifacts and check them against the float model."""
