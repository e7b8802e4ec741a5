"""Registry settings that need no store."""

from airlock.registry import MAX_PARTS, Registry


def test_part_size_grows_only_for_files_beyond_the_part_limit():
    reg = Registry(client=None, bucket="b", chunk_mb=8, concurrency=3)
    assert reg.transfer_for(8 << 20) is reg.transfer
    assert reg.transfer_for((8 << 20) * MAX_PARTS) is reg.transfer
    huge = (8 << 20) * MAX_PARTS + 1  # ~84 GB: 10,001 parts at 8 MiB
    t = reg.transfer_for(huge)
    assert t.multipart_chunksize % (1 << 20) == 0 and t.multipart_chunksize > 8 << 20
    assert -(-huge // t.multipart_chunksize) <= MAX_PARTS
    assert t.max_concurrency == 3 and t.multipart_threshold == reg.transfer.multipart_threshold
