"""Training and evaluation datasets, cut from recordings by the live pipeline's own stages."""
