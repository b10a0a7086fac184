"""The hall (issue 18): seated tickets called back on the hall's display and booths, help calls."""
