"""Helpdesk e-mail: 1,000 inbound e-mails to tickets (PostgreSQL).

The database `<prefix>_inbound_email` is a fresh copy of a template with
crm_service activated (bench/database.py). A company and two inboxes are
created with the ORM: one whose rule is crm.ticket|create_from_inbound_email,
one without rule.

The batch: NEW e-mails from 300 customers, each a MIME message with a text
part (a third with an HTML alternative, a fifth with a PDF and a text file
attached), and REPLIES answering them (In-Reply-To and References, the
original quoted), each after the e-mail it answers. Every e-mail is
delivered as the host's web hook does it: in a transaction of its own, the
inbound.email record created from the raw bytes, the inbox's rule run,
committed; retried as trytond retries a request when it fails as a
concurrent update.

Figure: the batch through the rule (a ticket per new e-mail, a chat message
per reply, the attachments kept), target 60 s. Baseline: the host's
inbound_email processing of the same e-mails by the inbox without rule (the
e-mail stored and parsed, each in its transaction): the ratio is the cost of
the helpdesk on top of receiving the mail. Then the same batch delivered
again (0 new tickets, 0 new chat messages, 0 new attachments) and another
batch delivered by two workers at once, each delivering every e-mail in its
own transactions (one ticket per new e-mail, one chat message per reply).
Correct only when all these counts are exact and no delivery failed.

    CRM_BENCH_PREFIX=bench_mail .venv/bin/python bench/run.py inbound_email
    CRM_BENCH_EMAILS=200 ...   # smaller
"""
import os
import random
import threading
import time
from email.message import EmailMessage

from bench import database as benchdb
from bench.tools import Result, Timer

EMAILS = int(os.environ.get('CRM_BENCH_EMAILS', 1000))
REPLY_SHARE = 0.3
CUSTOMERS = 300
TARGET = 60.0
RETRIES = 10


def setup(database):
    "Create the company and the inboxes; return their ids"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Inbox = pool.get('inbound.email.inbox')
        company = benchdb.create_company(pool)
        helpdesk, plain = Inbox.create([{
                    'name': "Support",
                    'rules': [('create', [{
                                    'action': (
                                        'crm.ticket|create_from_inbound_email'),
                                    }])],
                    }, {
                    'name': "Plain",
                    }])
        transaction.commit()
        return company.id, helpdesk.id, plain.id


def batch(marker, size, seed):
    """Return [(raw bytes, message id, original id or None)]: the new e-mails
    and the replies to them, each reply after its original"""
    rng = random.Random(seed)
    messages, originals = [], []
    for i in range(size):
        customer = rng.randrange(CUSTOMERS)
        original = None
        if i >= size // 3 and rng.random() < REPLY_SHARE * 1.5:
            original, customer = rng.choice(originals)
            if rng.random() < 0.25:
                # a colleague of the customer in copy answers
                customer += CUSTOMERS
        message = EmailMessage()
        message['From'] = f"Customer {customer} <customer{customer}@example.com>"
        message['To'] = 'support@example.org'
        message['Date'] = 'Tue, 01 Dec 2026 09:%02d:00 +0100' % (i % 60)
        message_id = f'<{marker}.{i}@mail.example.com>'
        message['Message-ID'] = message_id
        lines = [f"Hello,\n\nissue {i} of customer {customer}:"] + [
            "The device stops after a few minutes and shows an error."
            ] * rng.randint(1, 12) + ["\nRegards,\nCustomer"]
        if original is None:
            message['Subject'] = f"{marker} problem {i}"
        else:
            message['Subject'] = f"Re: {marker} problem"
            message['In-Reply-To'] = original
            message['References'] = original
            lines += ["\nOn Monday, you wrote:"] + [
                "> The device stops."] * 5
        body = '\n'.join(lines)
        message.set_content(body)
        if i % 3 == 0:
            message.add_alternative(
                '<html><body><p>%s</p></body></html>' % body.replace(
                    '\n', '<br>'), subtype='html')
        if i % 5 == 0:
            message.add_attachment(
                rng.randbytes(30_000), maintype='application',
                subtype='pdf', filename=f'invoice-{i}.pdf')
            message.add_attachment(
                "log line\n" * 200, filename=f'log-{i}.txt')
        messages.append((message.as_bytes(), message_id, original))
        if original is None:
            originals.append((message_id, customer))
    return messages


def deliver(database, context, inbox_id, raw, parse=False):
    """Deliver one e-mail as the web hook does, in its own transaction,
    retried on a concurrent update; return the retries"""
    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(database)
    Inbox = pool.get('inbound.email.inbox')
    Email = pool.get('inbound.email')
    for retry in range(RETRIES):
        try:
            with Transaction().start(
                    database, 0, context=context) as transaction:
                inbox = Inbox(inbox_id)
                emails = Email.from_webhook(inbox, raw, 'raw')
                for email_ in emails:
                    if parse:
                        email_.as_dict()
                    inbox.process(email_)
                Email.save(emails)
                transaction.commit()
            return retry
        except backend.DatabaseOperationalError:
            time.sleep(0.01 * (retry + 1))
    raise RuntimeError("too many retries")


def counts(database, marker, reply_ids):
    "Return (tickets, replies posted, attachments of the tickets)"
    with benchdb.transaction(database) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute(
            "SELECT COUNT(*), COUNT(DISTINCT email_message_id) "
            "FROM crm_ticket WHERE email_message_id LIKE %s",
            (f'<{marker}.%',))
        tickets, distinct = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*), COUNT(DISTINCT crm_email_message_id) "
            "FROM ir_chat_message "
            "WHERE crm_email_message_id = ANY(%s)", (reply_ids,))
        posts, distinct_posts = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM ir_attachment AS a "
            "JOIN crm_ticket AS t ON a.resource = 'crm.ticket,' || t.id "
            "WHERE t.email_message_id LIKE %s", (f'<{marker}.%',))
        attachments, = cursor.fetchone()
    return {
        'tickets': tickets, 'distinct_tickets': distinct,
        'posts': posts, 'distinct_posts': distinct_posts,
        'attachments': attachments,
        }


def expected(messages):
    new = sum(1 for _, _, o in messages if o is None)
    replies = len(messages) - new
    return new, replies


def bench_inbound_email():
    template = benchdb.prepare_template(('crm_service',), kind='svctpl')
    database = benchdb.fresh_database('inbound_email', template)
    company, helpdesk, plain = setup(database)
    benchdb.pool(database)
    from trytond.pool import Pool
    test = Pool.test
    # importing trytond's test tools sets Pool.test, with which every save
    # also validates the Function fields (the party's health, receivable…):
    # a server never runs so
    from trytond.modules.crm_core.tests.tools import SMTPSink
    Pool.test = test
    with SMTPSink() as sink:
        result = _bench_inbound_email(database, company, helpdesk, plain)
    # the replies of a colleague in copy are relayed to the customer
    result.detail['relayed'] = len(sink.messages)
    return result


def _bench_inbound_email(database, company, helpdesk, plain):
    context = {'company': company, 'companies': [company]}

    marker = f'b{time.time_ns()}'
    messages = batch(marker, EMAILS, 1)
    new, replies = expected(messages)
    reply_ids = [m for _, m, o in messages if o is not None]
    with_files = sum(1 for i in range(EMAILS) if i % 5 == 0)

    with Timer() as baseline:
        for raw, _, _ in messages:
            deliver(database, context, plain, raw, parse=True)
    with Timer() as timer:
        retries = sum(deliver(database, context, helpdesk, raw)
            for raw, _, _ in messages)
    first = counts(database, marker, reply_ids)
    with Timer() as again:
        for raw, _, _ in messages:
            deliver(database, context, helpdesk, raw)
    second = counts(database, marker, reply_ids)

    # two workers deliver the whole of another batch at once
    marker2 = f'c{time.time_ns()}'
    messages2 = batch(marker2, max(EMAILS // 5, 10), 2)
    new2, replies2 = expected(messages2)
    reply_ids2 = [m for _, m, o in messages2 if o is not None]
    errors = []
    retried = []

    def worker():
        try:
            retried.append(sum(deliver(database, context, helpdesk, raw)
                    for raw, _, _ in messages2))
        except Exception as exception:
            errors.append(repr(exception))
    workers = [threading.Thread(target=worker) for _ in range(2)]
    with Timer() as together:
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    concurrent = counts(database, marker2, reply_ids2)

    correct = (
        first == second
        and first['tickets'] == first['distinct_tickets'] == new
        and first['posts'] == first['distinct_posts'] == replies
        and first['attachments'] == 2 * with_files
        and concurrent['tickets'] == concurrent['distinct_tickets'] == new2
        and concurrent['posts'] == concurrent['distinct_posts'] == replies2
        and not errors)
    return Result(
        'inbound_email', timer.seconds, 's', baseline=baseline.seconds,
        target=TARGET, correct=correct,
        check=(f"{new} tickets and {replies} replies in their chats, the "
            "attachments kept; the batch again: nothing new; another batch "
            "by two workers at once: one ticket per new e-mail, one chat "
            "message per reply, no failed delivery"),
        detail={
            'emails': EMAILS, 'new': new, 'replies': replies,
            'with_attachments': with_files, 'retries': retries,
            'first': first, 'again': second,
            'again_seconds': round(again.seconds, 3),
            'two_workers_emails': len(messages2),
            'two_workers_new': new2, 'two_workers_replies': replies2,
            'two_workers_seconds': round(together.seconds, 3),
            'two_workers': concurrent,
            'two_workers_retries': sum(retried),
            'errors': errors[:3],
            })
