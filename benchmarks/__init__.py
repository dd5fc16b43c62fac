"""The reproduction harness: tables as grids of cells, stored one file per finished cell."""
