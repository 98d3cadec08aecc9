"""TCP forwarders from Docker's bridge gateway to the local stand-ins (make sam-local).

The stand-ins listen on 127.0.0.1 only, and a sam local container cannot reach this machine's
loopback. This listens on the bridge's gateway address (this machine's own address on the
bridge, so only containers reach it), one fresh port per stand-in, and forwards each
connection to the stand-in's loopback port. Nothing else on the machine is forwarded.

    gateway.py --listen 172.17.0.1 --ports-file ports.json NAME=PORT...

writes {"NAME": listen_port, ...} to ports.json once every listener is up, then serves until
SIGTERM.
"""

import argparse
import asyncio
import json
import os
import signal


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def forwarder(port: int):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handle


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True, help="the bridge gateway address")
    parser.add_argument("--ports-file", required=True)
    parser.add_argument("targets", nargs="+", help="NAME=LOOPBACK_PORT")
    args = parser.parse_args()

    listening = {}
    servers = []
    for target in args.targets:
        name, port = target.split("=", 1)
        server = await asyncio.start_server(forwarder(int(port)), args.listen, 0)
        servers.append(server)
        listening[name] = server.sockets[0].getsockname()[1]
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(listening, f)
    os.replace(tmp, args.ports_file)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
