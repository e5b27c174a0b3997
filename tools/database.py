"""Create a Tryton database or tell whether one exists, on either backend.

    python tools/database.py exists NAME   exit 0 when NAME is a Tryton database
    python tools/database.py create NAME   create the empty database NAME

The backend and its location come from trytond's configuration
(TRYTOND_CONFIG, TRYTOND_DATABASE__URI, TRYTOND_DATABASE__PATH).
"""
import os
import sys

from trytond import config


def exists(name):
    from trytond import backend
    if backend.name == 'sqlite':
        path = os.path.join(config.get('database', 'path'), name + '.sqlite')
        if not os.path.exists(path):
            return False
    elif name not in backend.Database('postgres').list():
        return False
    database = backend.Database(name).connect()
    try:
        return database.test()
    finally:
        database.close()


def create(name):
    from trytond import backend
    if backend.name == 'sqlite':
        os.makedirs(config.get('database', 'path'), exist_ok=True)
        backend.Database.create(None, name)
        return
    database = backend.Database('postgres').connect()
    connection = database.get_connection(autocommit=True)
    try:
        database.create(connection, name)
    finally:
        database.put_connection(connection)


def main(command, name):
    config.update_etc(os.environ.get('TRYTOND_CONFIG'))
    if command == 'exists':
        return 0 if exists(name) else 1
    elif command == 'create':
        create(name)
        return 0
    raise SystemExit(__doc__)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
