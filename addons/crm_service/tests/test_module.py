# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime

from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.modules.crm_core.tests import (
    CrmTestMixin, TranslationTestMixin)
from trytond.modules.crm_core.tests.tools import SMTPSink
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


class CrmServiceTestCase(
        PartyCheckEraseMixin, PartyCheckReplaceMixin, CrmTestMixin,
        TranslationTestMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Service module"
    module = 'crm_service'
    extras = ['attendance', 'timesheet', 'timesheet_cost']

    @with_transaction()
    def test_ticket_sequence_default(self):
        "Each company numbers from the module's default sequence"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        company = create_company()
        with set_company(company):
            config = Configuration(1)
            # PostgreSQL does not roll its sequences back: any number
            self.assertRegex(config.ticket_sequence.get(), r'^HD\d{5}$')


    @with_transaction()
    def test_ticket_origin_gives_party(self):
        "A ticket about a sale, a shipment or a purchase gets its party"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Ticket = pool.get('crm.ticket')

        company = create_company()
        with set_company(company):
            customer = Party(name="Customer")
            customer.save()
            sale = Sale(party=customer)
            sale.save()

            ticket = Ticket(subject="Where is my order?")
            ticket.origin = sale
            ticket.on_change_origin()
            self.assertEqual(ticket.party, customer)

            other = Party(name="Other")
            other.save()
            ticket = Ticket(subject="Where is my order?", party=other)
            ticket.origin = sale
            ticket.on_change_origin()
            self.assertEqual(ticket.party, other)

            self.assertIn('sale.sale', dict(Ticket.get_origin()))
            # purchase is not activated: not offered
            self.assertNotIn('purchase.purchase', dict(Ticket.get_origin()))

    @with_transaction()
    def test_ticket_number_and_delete(self):
        "Tickets are numbered; only new and cancelled ones are deleted"
        pool = Pool()
        Ticket = pool.get('crm.ticket')

        company = create_company()
        with set_company(company):
            first, second = Ticket.create([
                    {'subject': "One"}, {'subject': "Two"}])
            # consecutive numbers (PostgreSQL does not roll its sequences
            # back: the first may not be 1)
            number = int(first.number[2:])
            self.assertEqual(
                [first.number, second.number],
                [f'HD{number:05d}', f'HD{number + 1:05d}'])
            self.assertEqual(first.rec_name, f"[{first.number}] One")
            self.assertEqual(
                Ticket.search([('rec_name', 'ilike', '%two%')]), [second])

            Ticket.resolve([first])
            with self.assertRaises(AccessError) as cm:
                Ticket.delete([first])
            self.assertIn(f'"[{first.number}] One"', cm.exception.message)
            Ticket.delete([second])

            copy, = Ticket.copy([first])
            self.assertEqual(copy.number, f'HD{number + 2:05d}')
            self.assertEqual(
                (copy.state, copy.resolved_date, copy.reopened),
                ('new', None, 0))

    @with_transaction()
    def test_timeline_only_readable_tickets(self):
        "An agent sees on the timeline only the tickets they may read"
        pool = Pool()
        Party = pool.get('party.party')
        Employee = pool.get('company.employee')
        User = pool.get('res.user')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        Team = pool.get('crm.team')
        Ticket = pool.get('crm.ticket')
        Timeline = pool.get('crm.timeline')

        company = create_company()
        with set_company(company):
            customer, anna_party, omar_party = Party.create([
                    {'name': "Customer"}, {'name': "Anna"},
                    {'name': "Omar"}])
            anna, omar = Employee.create([
                    {'party': anna_party.id, 'company': company.id},
                    {'party': omar_party.id, 'company': company.id}])
            agent = Group(ModelData.get_id(
                    'crm_service', 'group_service_agent'))
            user, = User.create([{
                        'login': 'anna', 'name': "Anna",
                        'groups': [('add', [agent.id])],
                        'companies': [('add', [company.id])],
                        'company': company.id,
                        'employees': [('add', [anna.id])],
                        'employee': anna.id,
                        }])
            support, returns = Team.create([{
                        'name': "Support", 'kind': 'service',
                        'members': [('create', [{'employee': anna.id}])],
                        }, {
                        'name': "Returns", 'kind': 'service',
                        'members': [('create', [{'employee': omar.id}])],
                        }])
            mine, theirs = Ticket.create([{
                        'subject': "Mine", 'party': customer.id,
                        'team': support.id,
                        }, {
                        'subject': "Theirs", 'party': customer.id,
                        'team': returns.id, 'employee': omar.id,
                        }])

            with Transaction().set_user(user.id), \
                    Transaction().set_context(_check_access=True):
                events = Timeline.search([
                        ('party', '=', customer.id),
                        ('kind', '=', 'ticket'),
                        ])
                self.assertEqual(
                    [e.resource for e in events], [mine])
                party = Party(customer.id)
                self.assertEqual(list(party.service_tickets), [mine])


    def _calendar(self, timezone='Europe/Paris', hours=(9, 17), days=5,
            holidays=()):
        pool = Pool()
        Calendar = pool.get('crm.business.calendar')
        Interval = pool.get('crm.business.calendar.interval')
        Holiday = pool.get('crm.business.calendar.holiday')
        start, end = (dt.time(h % 24) for h in hours)
        return Calendar(
            name="Office", timezone=timezone,
            intervals=[Interval(weekday=str(d), start=start, end=end)
                for d in range(days)],
            holidays=[Holiday(date=d) for d in holidays])

    @with_transaction()
    def test_calendar_weekend_and_holiday(self):
        "Working time skips the nights, the weekend and the holidays"
        # Wednesday 24 December 2025 15:00 in Paris (UTC+1)
        calendar = self._calendar(holidays=[dt.date(2025, 12, 25)])
        start = dt.datetime(2025, 12, 24, 14)
        # 2 h on Wednesday, Christmas off, 2 h on Friday: 11:00 in Paris
        self.assertEqual(
            calendar.add(start, dt.timedelta(hours=4)),
            dt.datetime(2025, 12, 26, 10))
        # then the weekend: Monday 15:00 in Paris
        self.assertEqual(
            calendar.add(start, dt.timedelta(hours=16)),
            dt.datetime(2025, 12, 29, 14))
        self.assertEqual(
            calendar.between(start, dt.datetime(2025, 12, 29, 14)),
            dt.timedelta(hours=16))
        # outside the hours, the clock starts with the next working hour
        saturday = dt.datetime(2025, 12, 27, 12)
        self.assertEqual(
            calendar.add(saturday, dt.timedelta(0)),
            dt.datetime(2025, 12, 29, 8))
        self.assertEqual(
            calendar.between(saturday, dt.datetime(2025, 12, 29, 8)),
            dt.timedelta(0))

    @with_transaction()
    def test_calendar_daylight_saving(self):
        "The working hours are local: they move with summer time"
        calendar = self._calendar()
        # Friday 27 March 2026 16:00 in Paris is 15:00 UTC; on Monday 30
        # Paris is at UTC+2: 9:00 is 7:00 UTC
        self.assertEqual(
            calendar.add(dt.datetime(2026, 3, 27, 15),
                dt.timedelta(hours=2)),
            dt.datetime(2026, 3, 30, 8))

        # round the clock: the night of the change has an hour less
        always = self._calendar(hours=(0, 0), days=7)
        saturday_noon = dt.datetime(2026, 3, 28, 11)
        self.assertEqual(
            always.add(saturday_noon, dt.timedelta(hours=24)),
            dt.datetime(2026, 3, 29, 11))
        self.assertEqual(
            always.between(saturday_noon, dt.datetime(2026, 3, 30, 11)),
            dt.timedelta(hours=48))

        # New York changes on another Sunday (8 March 2026)
        new_york = self._calendar(timezone='America/New_York')
        self.assertEqual(
            new_york.add(dt.datetime(2026, 3, 6, 21),  # Friday 16:00 EST
                dt.timedelta(hours=2)),
            dt.datetime(2026, 3, 9, 14))  # Monday 10:00 EDT

    @with_transaction()
    def test_calendar_checks(self):
        "A calendar without hours or with hours in the wrong order is refused"
        pool = Pool()
        Calendar = pool.get('crm.business.calendar')
        Interval = pool.get('crm.business.calendar.interval')

        company = create_company()
        with set_company(company):
            # from the company's work time: 5 days of 8 hours from 9:00
            intervals = Calendar.default_intervals()
            self.assertEqual(
                [(i['weekday'], i['start'], i['end']) for i in intervals],
                [(str(d), dt.time(9), dt.time(17)) for d in range(5)])
            calendar, = Calendar.create([{
                        'name': "Office",
                        'intervals': [('create', intervals)],
                        }])
            self.assertEqual(calendar.timezone, 'UTC')

            calendar.intervals = []
            with self.assertRaises(ValidationError) as cm:
                calendar.save()
            self.assertIn('"Office" has no working hours',
                cm.exception.message)

            calendar = Calendar(name="Evenings", intervals=[
                    Interval(weekday='0', start=dt.time(18),
                        end=dt.time(9))])
            with self.assertRaises(ValidationError) as cm:
                calendar.save()
            self.assertEqual(cm.exception.message,
                'In business calendar "Evenings", the working hours of '
                'Monday end at 09:00 before they start at 18:00; use 00:00 '
                'for the end of the day.')

            # an unsaved calendar without hours has no time at all
            empty = self._calendar(days=0)
            with self.assertRaises(ValidationError) as cm:
                empty.add(dt.datetime(2026, 1, 1), dt.timedelta(hours=1))
            self.assertIn('"Office" has no working time',
                cm.exception.message)

    @with_transaction()
    def test_sla_pause_while_waiting(self):
        "The resolution clock stops while the ticket waits on the customer"
        pool = Pool()
        Policy = pool.get('crm.sla.policy')
        Ticket = pool.get('crm.ticket')

        company = create_company()
        with set_company(company):
            calendar = self._calendar(hours=(0, 0), days=7,
                timezone='UTC')
            calendar.company = company
            calendar.save()
            Policy.create([{
                        'name': "Standard", 'calendar': calendar.id,
                        'response_time': dt.timedelta(hours=1),
                        'resolution_time': dt.timedelta(hours=10),
                        }])
            reported = dt.datetime(2026, 1, 5, 8)
            ticket, = Ticket.create([{
                        'subject': "Broken", 'reported_date': reported,
                        }])
            self.assertEqual(ticket.sla_policy.name, "Standard")
            self.assertEqual(
                ticket.response_deadline, dt.datetime(2026, 1, 5, 9))
            self.assertEqual(
                ticket.resolution_deadline, dt.datetime(2026, 1, 5, 18))
            self.assertEqual(
                ticket.sla_risk_date, dt.datetime(2026, 1, 5, 8, 48))

            ticket._sla_respond(dt.datetime(2026, 1, 5, 8, 30))
            ticket._sla_pause(dt.datetime(2026, 1, 5, 10))
            ticket._sla_resume(dt.datetime(2026, 1, 5, 13))
            ticket.save()
            self.assertFalse(ticket.response_breached)
            self.assertEqual(ticket.sla_paused, dt.timedelta(hours=3))
            self.assertEqual(
                ticket.resolution_deadline, dt.datetime(2026, 1, 5, 21))
            # the risk now counts on the resolution: 80 % of 10 h + 3 h
            self.assertEqual(
                ticket.sla_risk_date, dt.datetime(2026, 1, 5, 19))


    def _inbound_email(self, message):
        pool = Pool()
        Inbox = pool.get('inbound.email.inbox')
        Email = pool.get('inbound.email')
        inboxes = Inbox.search([], limit=1)
        inbox = inboxes[0] if inboxes else Inbox(
            name="Support", rules=[{
                    'action': 'crm.ticket|create_from_inbound_email',
                    }])
        inbox.save()
        email_, = Email.create([{
                    'inbox': inbox.id,
                    'data': message.as_bytes(),
                    'data_type': 'raw',
                    }])
        Email.process([email_])
        return email_.result

    @with_transaction()
    def test_inbound_email_ticket(self):
        "An e-mail opens a ticket; the answers go both ways in its chat"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        Channel = pool.get('ir.chat.channel')
        Message = pool.get('ir.chat.message')
        Ticket = pool.get('crm.ticket')
        company = create_company()

        def chat(ticket):
            return [(m.author, m.content, m.audience)
                for m in Message.search([
                        ('channel.resource', '=', str(ticket)),
                        ('audience', '=', 'public'),
                        ], order=[('id', 'ASC')])]

        sent = dt.datetime.now().replace(second=0, microsecond=0) \
            - dt.timedelta(hours=2)
        message = EmailMessage()
        message['From'] = "Ann Lee <Ann@Example.com>"
        message['To'] = 'support@example.org'
        message['Subject'] = "Oven does not heat"
        message['Message-ID'] = '<oven.1@example.com>'
        message['Date'] = format_datetime(
            sent.replace(tzinfo=dt.timezone.utc))
        message.set_content("Since this morning.")
        message.add_attachment(
            b'photo', maintype='image', subtype='jpeg',
            filename='oven.jpg')

        with set_company(company):
            ticket = self._inbound_email(message)
            self.assertIsInstance(ticket, Ticket)
            self.assertEqual(
                (ticket.number, ticket.subject, ticket.description,
                    ticket.channel, ticket.state),
                (ticket.number, "Oven does not heat", "Since this morning.",
                    'email', 'new'))
            self.assertRegex(ticket.number, r'^HD\d{5}$')
            self.assertEqual(
                ticket.rec_name, f"[{ticket.number}] Oven does not heat")
            self.assertEqual(ticket.party.name, "Ann Lee")
            self.assertEqual(ticket.contact.value.lower(), 'ann@example.com')
            self.assertEqual(ticket.reported_date, sent)
            self.assertEqual(ticket.email_message_id, '<oven.1@example.com>')
            attachment, = Attachment.search([('resource', '=', str(ticket))])
            self.assertEqual(attachment.name, 'oven.jpg')

            # delivered again: nothing more
            self.assertEqual(self._inbound_email(message), ticket)
            self.assertEqual(Ticket.search([]), [ticket])
            self.assertEqual(chat(ticket), [])

            # the agent asks: the customer gets it, the ticket is answered
            Ticket.open([ticket])
            ticket.first_response_date = None
            ticket.save()
            with SMTPSink() as sink:
                question = Channel.post(
                    ticket, "Which model is it?", audience='public')
                sink.deliver()
            (_, recipients, email_sent), = sink.messages
            self.assertEqual(
                [r.lower() for r in recipients], ['ann@example.com'])
            self.assertIn(
                f'[{ticket.number}] Oven does not heat',
                email_sent['Subject'])
            ticket = Ticket(ticket.id)
            self.assertIsNotNone(ticket.first_response_date)
            Ticket.wait([ticket])

            # her answer goes to the chat and brings the ticket back
            answer = EmailMessage()
            answer['From'] = 'ann@example.com'
            answer['Subject'] = "Re: " + email_sent['Subject']
            answer['Message-ID'] = '<oven.2@example.com>'
            answer['In-Reply-To'] = question.reference
            answer.set_content("The Barista.\n\n> Which model is it?\n")
            self.assertEqual(self._inbound_email(answer), ticket)
            self.assertEqual(chat(ticket)[-1], (
                    'ann@example.com', "The Barista.", 'public'))
            self.assertEqual(Ticket(ticket.id).state, 'open')

            # a number in brackets finds the ticket too
            by_number = EmailMessage()
            by_number['From'] = 'ann@example.com'
            by_number['Subject'] = f"About [{ticket.number}]"
            by_number.set_content("Any news?")
            self.assertEqual(self._inbound_email(by_number), ticket)

            # a malformed date: the ticket is reported now
            other = EmailMessage()
            other['From'] = 'bob@example.com'
            other['Subject'] = "Invoice question"
            other['Date'] = 'yesterday at noon'
            other.set_content("Hello")
            new = self._inbound_email(other)
            self.assertNotEqual(new, ticket)
            self.assertLess(
                abs(new.reported_date - dt.datetime.now()),
                dt.timedelta(minutes=2))


del ModuleTestCase
