#!/usr/bin/python3
"""Mail and FTP load for the mixed-protocol capture of `cargo xtask bench
pcap`: sessions of Python's own clients against the lab's SMTP sink,
Dovecot (alice/pass, one message) and vsftpd (anonymous, pub/hello.txt).

usage: mail_load.py SERVER_IP SESSIONS
"""
import ftplib
import imaplib
import poplib
import smtplib
import sys

ip, sessions = sys.argv[1], int(sys.argv[2])
message = "From: a@lab.test\r\nTo: b@lab.test\r\nSubject: load\r\n\r\n" + "line\r\n" * 40
for _ in range(sessions):
    with smtplib.SMTP(ip, 25) as s:
        s.ehlo()
        s.sendmail("a@lab.test", ["b@lab.test", "c@lab.test"], message)
        s.noop()
    m = imaplib.IMAP4(ip, 143)
    m.login("alice", "pass")
    m.select("INBOX")
    m.fetch("1", "(FLAGS BODY.PEEK[])")
    m.uid("SEARCH", "ALL")
    m.logout()
    p = poplib.POP3(ip, 110)
    p.user("alice")
    p.pass_("pass")
    p.stat()
    p.list()
    p.retr(1)
    p.quit()
    f = ftplib.FTP(ip)
    f.login()
    f.pwd()
    f.cwd("pub")
    f.size("hello.txt")
    f.quit()
