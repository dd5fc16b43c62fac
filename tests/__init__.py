"""The test suite (a package, so that its modules are found before any installed package named tests)."""
