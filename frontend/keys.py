"""`python -m frontend.keys create|list|revoke`: manage API keys in the frontend's database (T2I_DATABASE_URL;
default: the embedded SQLite file in T2I_DATA_DIR)."""

from __future__ import annotations

import argparse
import sys
import time

from frontend.settings import Settings
from frontend.storage.database import DatabaseOpenError, open_database
from frontend.storage.keys import KeyStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontend.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what the key is for")
    commands.add_parser("list", help="list keys (never their secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key by id; refused from the next request on")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    settings = Settings()
    try:
        db = open_database(settings.data_dir, settings.database_url)
    except DatabaseOpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = KeyStore(db)
    try:
        if args.command == "create":
            key, secret = keys.create(args.name)
            print(f"created key {key.id} ({key.name}); the secret is shown only this once:\n{secret}")
        elif args.command == "list":
            for key in keys.list():
                state = (
                    "revoked " + time.strftime("%Y-%m-%d", time.gmtime(key.revoked))
                    if key.revoked
                    else "active"
                )
                created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(key.created))
                print(f"{key.id}  {created}  {state:<18} {key.name}")
        elif not keys.revoke(args.key_id):
            print(f"error: no key with id {args.key_id!r}", file=sys.stderr)
            return 1
        else:
            print(f"revoked key {args.key_id}")
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
