import logging
from logging.config import fileConfig

from flask import current_app

from alembic import context
from sqlalchemy import event, exc

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger('alembic.env')


def get_engine():
    try:
        # this works with Flask-SQLAlchemy<3 and Alchemical
        return current_app.extensions["migrate"].db.engine
    except (TypeError, AttributeError):
        # this works with Flask-SQLAlchemy>=3
        return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with connectable.connect() as connection:
        if connection.dialect.name == "sqlite":
            _migrate_sqlite(connection, conf_args)
            return
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )

        with context.begin_transaction():
            context.run_migrations()


def _migrate_sqlite(connection, conf_args):
    """Run the migrations on SQLite as one transaction, with foreign keys checked at the end.

    SQLite changes most of a table (a column dropped, a constraint) by building a new table and
    dropping the old one (Alembic's batch mode). With foreign keys enforced, as the app's
    connections have them, dropping a table other rows point at (runs, companies) fails half-way;
    and the sqlite3 module runs DDL outside any transaction, so a failure left the database half
    migrated under the old revision. SQLite's own procedure for schema changes
    (sqlite.org/lang_altertable.html) is followed instead: foreign keys off, everything in one
    transaction, ``PRAGMA foreign_key_check`` before the commit (any dangling reference rolls it
    all back). A database error (busy, read-only, disk full) is said in one line, never a trace.
    The connection is dropped afterwards, never handed back to the app without them.
    """
    driver = connection.connection.dbapi_connection
    isolation = driver.isolation_level
    connection.commit()                       # nothing open: the pragma only works outside one
    driver.isolation_level = None             # the module begins nothing by itself: we do
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()

    def begin(conn):
        # Deferred: nothing to migrate takes no write lock (`make run` while an import writes).
        # SQLite does not wait to turn a read into a write: with another writer at work, a
        # migration with something to do fails at once, whole, and says so.
        conn.exec_driver_sql("BEGIN")

    event.listen(connection, "begin", begin)
    try:
        context.configure(connection=connection, target_metadata=get_metadata(),
                          transactional_ddl=True, **conf_args)
        with context.begin_transaction():
            context.run_migrations()
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise RuntimeError(
                    "migration left rows pointing at missing ones (table, rowid, parent): "
                    + ", ".join(f"{table} {rowid} -> {parent}"
                                for table, rowid, parent, _ in dangling[:10]))
    except exc.OperationalError as error:  # busy, read-only, disk full: all of it undone
        raise RuntimeError(f"nothing was changed: {error.orig} (when another program is writing "
                           "to the database, an import or a run, try again once it ends)") from error
    finally:
        event.remove(connection, "begin", begin)
        driver.isolation_level = isolation
        connection.invalidate()               # the pool's next connection has foreign keys on


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
