#!/bin/sh
# Starts the foreign MX: Postfix for HARNESS_DOMAIN on HARNESS_HOSTNAME,
# names resolved by HARNESS_DNS, TLS from /harness/tls, users from
# HARNESS_USERS (space-separated local parts), deliveries judged by
# `receive` into /spool.
set -eu
printf 'nameserver %s\n' "$HARNESS_DNS" > /etc/resolv.conf
: > /etc/postfix/users
for user in $HARNESS_USERS; do
  printf '%s@%s ok\n' "$user" "$HARNESS_DOMAIN" >> /etc/postfix/users
done
postconf -e \
  "compatibility_level = 3.6" \
  "myhostname = $HARNESS_HOSTNAME" \
  "mydomain = $HARNESS_DOMAIN" \
  "mydestination =" \
  "inet_protocols = ipv4" \
  "maillog_file = /dev/stdout" \
  "mynetworks = 127.0.0.0/8" \
  "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
  "virtual_mailbox_domains = $HARNESS_DOMAIN" \
  "virtual_mailbox_maps = texthash:/etc/postfix/users" \
  "virtual_transport = receive" \
  "receive_destination_recipient_limit = 1" \
  "smtpd_tls_chain_files = /harness/tls/key.pem, /harness/tls/cert.pem" \
  "smtpd_tls_security_level = may" \
  "smtpd_tls_received_header = yes" \
  "smtpd_tls_loglevel = 1"
postconf -M 'receive/unix=receive unix - n n - - pipe flags=Rq user=nobody null_sender= argv=/usr/local/bin/receive ${client_address} ${client_hostname} ${client_helo} ${sender} ${recipient}'
postconf -F '*/*/chroot = n'
exec postfix start-fg
