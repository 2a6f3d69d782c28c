#!/usr/bin/env python3
"""A TLS front for a plain HTTP test app, as a reverse proxy or load balancer terminates TLS.

    tls_proxy.py LISTEN_PORT CERT_PEM KEY_PEM TARGET_PORT

Accepts TLS on 127.0.0.1:LISTEN_PORT with the given certificate and passes the bytes both ways to
127.0.0.1:TARGET_PORT. Prints "ready" once listening.
"""
import asyncio, ssl, sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main():
    listen, cert, key, target = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen, ssl=context)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
