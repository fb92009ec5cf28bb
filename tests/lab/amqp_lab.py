#!/usr/bin/python3
"""The AMQP client of the lab (Debian's python3-pika), against a broker at
ADDRESS:5672. One connection; what it does, method by method, is what the
sensor must find (sensor/tests/live_servers.rs):

  connection.open, channel.open, queue.declare jobs, confirm.select,
  3 x basic.publish (confirmed), 4 x basic.get jobs (3 messages, 1 empty),
  queue.declare missing (passive: the broker closes the channel, 404),
  channel.open, queue.delete jobs, channel.close, connection.close

usage: amqp_lab.py ADDRESS          (the above)
       amqp_lab.py ADDRESS N        a load: N confirmed publishes, N gets
"""
import sys

import pika


def main(address):
    connection = pika.BlockingConnection(pika.ConnectionParameters(address, 5672, heartbeat=0))
    channel = connection.channel()
    channel.queue_declare("jobs")
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("", "jobs", b"job %d" % i)
    got = [channel.basic_get("jobs", auto_ack=True)[2] for _ in range(4)]
    print("got", got)
    try:
        channel.queue_declare("missing", passive=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        print("refused", e.reply_code)
    channel = connection.channel()
    channel.queue_delete("jobs")
    channel.close()
    connection.close()


def load(address, n):
    connection = pika.BlockingConnection(pika.ConnectionParameters(address, 5672, heartbeat=0))
    channel = connection.channel()
    channel.queue_declare("load")
    channel.confirm_delivery()
    for i in range(n):
        channel.basic_publish("", "load", b"%d" % i)
    for _ in range(n):
        channel.basic_get("load", auto_ack=True)
    connection.close()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        load(sys.argv[1], int(sys.argv[2]))
    else:
        main(sys.argv[1])
