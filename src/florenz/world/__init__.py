"""The embedded world: procedural scenes, six-language realisers, and the data set built from them."""
