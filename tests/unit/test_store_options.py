"""The worker's RocksDB tables open with a bounded memory: the settings reach every table's store, and RocksDB
opens its databases with them (Faust's defaults are a 2 GiB block cache and three 64 MiB write buffers per table
partition)."""

from __future__ import annotations

from pathlib import Path

from faust.stores.rocksdb import Store as RocksDBStore

from schemas import topics as catalogue
from streams.app import create_app
from streams.settings import WorkerSettings


def worker_settings(tmp_path: Path, **overrides: object) -> WorkerSettings:
    return WorkerSettings(liveengage_accounts={}, channels={}, data_dir=tmp_path, **overrides)  # type: ignore[arg-type]


def test_every_rocksdb_table_opens_its_databases_with_the_bounded_memory(tmp_path: Path) -> None:
    settings = worker_settings(tmp_path / "worker", store="rocksdb", rocksdb_block_cache_mib=6,
                               rocksdb_write_buffer_mib=3)
    app = create_app(settings)
    stores = [app.tables[name].data for name in catalogue.TABLES]
    assert all(isinstance(store, RocksDBStore) for store in stores)
    options = {(store.rocksdb_options.block_cache_size, store.rocksdb_options.write_buffer_size,
                store.rocksdb_options.max_write_buffer_number) for store in stores}
    assert options == {(6 * 2**20, 3 * 2**20, 2)}

    database = stores[0].rocksdb_options.open(tmp_path / "db")
    try:
        assert database.property_int_value("rocksdb.block-cache-capacity") == 6 * 2**20
    finally:
        database.close()
    (written,) = (tmp_path / "db").glob("OPTIONS-*")  # what RocksDB opened the database with
    lines = {line.strip() for line in written.read_text().splitlines()}
    assert {f"write_buffer_size={3 * 2**20}", "max_write_buffer_number=2"} <= lines


def test_a_memory_table_takes_no_rocksdb_options(tmp_path: Path) -> None:
    app = create_app(worker_settings(tmp_path / "worker"))
    assert all(not app.tables[name].options for name in catalogue.TABLES)
