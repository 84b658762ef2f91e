"""Every default of reading, segmenting and writing, in one place."""

#: largest image accepted, in decoded values (frames x height x width x channels); --max-pixels raises it.
#: 1e9 values are 1 GB as uint8 and 4 GB as float32: beyond that an image is refused before decoding.
MAX_PIXELS = 1_000_000_000

#: frames larger than this many pixels per side are segmented block by block (bounded memory)
BLOCK = 2048
#: context added around each block so cells on a block edge see their neighbourhood
BLOCK_MARGIN = 96

#: sliding-window tile, tiles per forward pass, overlap, smallest object kept
TILE = 512
BATCH = 4
OVERLAP = 0.25
MIN_SIZE = 15
