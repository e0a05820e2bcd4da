"""Reading the index's rows: the memory of a big matrix is faulted in from a thread without touching its data."""

import threading

import numpy as np

from knowledge import stored_rows


def test_faulting_in_a_matrix_keeps_what_readers_wrote_meanwhile():
    matrix = np.empty((4096, 1536), dtype=np.float32)
    matrix[:100] = 7.0  # rows a reader has filled already
    stored_rows._fault_in_meanwhile(matrix)
    matrix[100:200] = 3.0  # and rows it fills meanwhile
    for thread in threading.enumerate():
        if thread.name == "ragchat-index-prefault":
            thread.join(30)
    assert (matrix[:100] == 7.0).all() and (matrix[100:200] == 3.0).all()
