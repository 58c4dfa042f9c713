"""Which potential ships: the final fit only once it passes the loop's end criteria itself."""
