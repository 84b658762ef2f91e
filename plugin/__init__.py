"""napari plugin (a later issue); nothing here yet."""
