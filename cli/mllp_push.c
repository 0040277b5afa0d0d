/*
 * mllp_push.c -- `hourglass push --format hl7v2 --mllp [HOST:PORT] FILE...`:
 * our own MLLP client. Splits each file into HL7 messages (at every MSH that
 * starts a segment; CR, LF or CRLF), sends each in an MLLP frame, and waits
 * for its ACK: MSA-1 AA (or CA, enhanced mode) counts as accepted, AE/AR as
 * rejected with the ERR text. When the collector goes away (killed,
 * restarted, connection reset or silent 30 s) it reconnects and resends the
 * message not yet acknowledged, for up to --retry seconds (60) per message,
 * then one attempt per message while it stays away; SIGPIPE is ignored. Exit status 1 when anything was rejected or not acknowledged;
 * the summary is printed in every case.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int
s_connect (const char *address)
{
    char host[64];
    const char *colon = strrchr (address, ':');
    if (!colon) {
        return -1;
    }
    snprintf (host, sizeof (host), "%.*s", (int) (colon - address), address);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) atoi (colon + 1))};
    if (inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
        return -1;
    }
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
    if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0) {
        if (fd >= 0) {
            close (fd);
        }
        return -1;
    }
    return fd;
}

/* Reads one MLLP frame into buf; its length, or -1. */
static ssize_t
s_read_ack (int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t got = read (fd, buf + n, cap - n);
        if (got <= 0) {
            return -1;
        }
        n += (size_t) got;
        if (n >= 2 && buf[n - 2] == 0x1c && buf[n - 1] == 0x0d) {
            return (ssize_t) n;
        }
    }
    return -1;
}

/* MSA-1 of an ACK and, for AE/AR, the last field of its ERR segment. */
static void
s_parse_ack (const char *ack, size_t len, char code[3], char *reason, size_t cap)
{
    code[0] = '\0';
    reason[0] = '\0';
    const char *msa = NULL, *err = NULL;
    for (size_t i = 0; i + 3 < len; i++) {
        if ((i == 0 || ack[i - 1] == '\r' || ack[i - 1] == 0x0b)
            && memcmp (ack + i, "MSA", 3) == 0) {
            msa = ack + i;
        }
        if ((i == 0 || ack[i - 1] == '\r') && memcmp (ack + i, "ERR", 3) == 0) {
            err = ack + i;
        }
    }
    if (msa && msa + 6 <= ack + len) {
        snprintf (code, 3, "%.2s", msa + 4);
    }
    if (err) {
        const char *end = memchr (err, '\r', (size_t) (ack + len - err));
        end = end ? end : ack + len;
        const char *last = err;
        for (const char *p = err; p < end; p++) {
            if (*p == err[3]) {
                last = p + 1;
            }
        }
        snprintf (reason, cap, "%.*s", (int) (end - last), last);
    }
}

/* The sender's state across messages and reconnections. */
typedef struct {
    const char *address;
    int fd; /* -1: not connected */
    bool json;
    size_t accepted, rejected, unanswered, resent, reconnects;
    uint64_t retry_ms; /* how long a message is retried through outages */
    bool gone;         /* a whole retry window failed: the rest get one attempt each */
} s_sender_t;

#define S_RECONNECT_PAUSE_US 200000

/* Sends one frame and reads its ACK, reconnecting and resending through a
 * collector that went away (a resend is idempotent: the collector keys a
 * message by MSH-10 and its content). The ACK's length, or -1 when no ACK
 * came within s->retry_ms. */
static ssize_t
s_exchange (s_sender_t *s, const char *frame, size_t flen, char *ack, size_t cap)
{
    /* once the collector stayed away for a whole window, one attempt per message: a
     * collector that does not come back costs one window, not one per message */
    uint64_t until = s->gone ? 0 : hg_now_ms () + s->retry_ms;
    for (int attempt = 0;; attempt++) {
        if (s->fd < 0) {
            s->fd = s_connect (s->address);
            s->reconnects += s->fd >= 0 && attempt > 0;
        }
        if (s->fd >= 0) {
            s->resent += attempt > 0;
            ssize_t sent = send (s->fd, frame, flen, MSG_NOSIGNAL);
            ssize_t al = sent == (ssize_t) flen ? s_read_ack (s->fd, ack, cap) : -1;
            if (al >= 0) {
                s->gone = false;
                return al;
            }
            close (s->fd); /* gone, reset or silent: a new connection, the same message */
            s->fd = -1;
        }
        if (hg_now_ms () >= until) {
            s->gone = true;
            return -1;
        }
        usleep (S_RECONNECT_PAUSE_US);
    }
}

/* Sends data[start..start+mlen) as one framed message and counts its ACK. */
static void
s_send_message (s_sender_t *s, const char *file, const char *data, size_t start, size_t mlen)
{
    char *frame = malloc (mlen + 4);
    if (!frame) {
        s->unanswered++;
        return;
    }
    frame[0] = 0x0b;
    for (size_t i = 0; i < mlen; i++) { /* LF segment ends become CR */
        frame[i + 1] = data[start + i] == '\n' ? '\r' : data[start + i];
    }
    frame[mlen + 1] = '\r';
    frame[mlen + 2] = 0x1c;
    frame[mlen + 3] = 0x0d;
    char ack[4096], code[3], reason[512];
    ssize_t al = s_exchange (s, frame, mlen + 4, ack, sizeof (ack));
    free (frame);
    if (al < 0) {
        s->unanswered++;
        fprintf (stderr, "%s: message at byte %zu: no ACK\n", file, start);
        return;
    }
    s_parse_ack (ack, (size_t) al, code, reason, sizeof (reason));
    if (strcmp (code, "AA") == 0 || strcmp (code, "CA") == 0) {
        s->accepted++;
    }
    else {
        s->rejected++;
        fprintf (s->json ? stderr : stdout, "%s: message at byte %zu: %s %s\n", file, start, code,
                 reason);
    }
}

/* Every message of one file, in order. */
static void
s_send_file (s_sender_t *s, const char *file)
{
    char *data;
    size_t len;
    hg_err_t err = {0};
    if (hg_read_file (file, 64u << 20, &data, &len, &err) < 0) {
        fprintf (stderr, "hourglass push: %s\n", err.msg);
        s->unanswered++;
        return;
    }
    /* message starts: MSH at the start of the data or of a segment */
    size_t start = 0;
    while (start < len) {
        size_t next = len;
        for (size_t i = start + 1; i + 3 <= len; i++) {
            if ((data[i - 1] == '\r' || data[i - 1] == '\n')
                && memcmp (data + i, "MSH", 3) == 0) {
                next = i;
                break;
            }
        }
        size_t mlen = next - start;
        while (mlen
               && (data[start + mlen - 1] == '\n' || data[start + mlen - 1] == '\r'
                   || data[start + mlen - 1] == ' ')) {
            mlen--;
        }
        if (mlen) {
            s_send_message (s, file, data, start, mlen);
        }
        start = next;
    }
    free (data);
}

int
hg_mllp_push (const char *address, const char *const *files, size_t n_files, bool json,
              int retry_s)
{
    /* a collector that dies mid-write must not kill us: send() says so instead */
    signal (SIGPIPE, SIG_IGN);
    s_sender_t s = {.address = address,
                    .fd = s_connect (address),
                    .json = json,
                    .retry_ms = (uint64_t) retry_s * 1000u};
    if (s.fd < 0) {
        fprintf (stderr, "hourglass push: cannot connect to MLLP %s: %s\n", address,
                 strerror (errno));
        return 1;
    }
    for (size_t f = 0; f < n_files; f++) {
        s_send_file (&s, files[f]);
    }
    if (s.fd >= 0) {
        close (s.fd);
    }
    if (json) {
        printf ("{\"files\": %zu, \"accepted\": %zu, \"rejected\": %zu, \"unanswered\": %zu, "
                "\"resent\": %zu, \"reconnects\": %zu}\n",
                n_files, s.accepted, s.rejected, s.unanswered, s.resent, s.reconnects);
    }
    else {
        printf ("mllp: %zu messages acknowledged AA, %zu rejected (AE/AR), %zu unanswered; %zu "
                "resent after %zu reconnections\n",
                s.accepted, s.rejected, s.unanswered, s.resent, s.reconnects);
    }
    return s.rejected || s.unanswered ? 1 : 0;
}
