#!/usr/bin/python3
"""A gRPC server and client for the lab, with Debian's python3-grpcio and
no generated code (messages are raw bytes):

  grpc_lab.py serve ADDRESS PORT   helloworld.Greeter until killed:
      SayHello  unary, answers after 20 ms; a request b"missing" is
                refused with NOT_FOUND
      Stream    server streaming: three messages, 10 ms apart
      Echo      unary, answers at once
  grpc_lab.py call ADDRESS PORT    on one channel: SayHello 3 times,
      SayHello b"missing" once, Stream once; prints what it got
  grpc_lab.py load ADDRESS PORT N  N Echo calls on one channel (a load)
"""
import sys
import time
from concurrent import futures

import grpc

SERVICE = "helloworld.Greeter"


def say_hello(request, context):
    time.sleep(0.02)
    if request == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
    return b"hello " + request


def stream(request, context):
    for i in range(3):
        if i:
            time.sleep(0.01)
        yield b"part %d" % i


def echo(request, context):
    return request


def serve(address, port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "SayHello": grpc.unary_unary_rpc_method_handler(say_hello),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"{address}:{port}")
    server.start()
    print("grpc server up", flush=True)
    server.wait_for_termination()


def call(address, port):
    with grpc.insecure_channel(f"{address}:{port}") as channel:
        hello = channel.unary_unary(f"/{SERVICE}/SayHello")
        for name in [b"a", b"b", b"c"]:
            print(hello(name, timeout=5).decode())
        try:
            hello(b"missing", timeout=5)
        except grpc.RpcError as e:
            print("refused:", e.code().name)
        parts = channel.unary_stream(f"/{SERVICE}/Stream")(b"", timeout=5)
        print(", ".join(p.decode() for p in parts))


def load(address, port, calls):
    with grpc.insecure_channel(f"{address}:{port}") as channel:
        echo_call = channel.unary_unary(f"/{SERVICE}/Echo")
        for i in range(int(calls)):
            echo_call(b"%d" % i, timeout=5)


if __name__ == "__main__":
    {"serve": serve, "call": call, "load": load}[sys.argv[1]](sys.argv[2], int(sys.argv[3]), *sys.argv[4:])
