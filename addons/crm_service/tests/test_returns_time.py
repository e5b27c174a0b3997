# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Complaints from tickets, time on tickets and the presence of the agents
from the host's attendance"""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.timesheet.exceptions import CompanyValidationError
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)

#: The modules of test_module: the same cached database
MODULES = ['crm_service', 'attendance', 'timesheet', 'timesheet_cost']


class ReturnsTimeTestCase(unittest.TestCase):
    "Test the returns, the time and the presence of crm_service"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(MODULES)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    def _team(self, company, names):
        pool = Pool()
        Party = pool.get('party.party')
        Employee = pool.get('company.employee')
        Team = pool.get('crm.team')
        parties = Party.create([{'name': n} for n in names])
        employees = Employee.create([
                {'party': p.id, 'company': company.id} for p in parties])
        team, = Team.create([{
                    'name': "Support", 'kind': 'service',
                    'members': [('create', [
                                {'employee': e.id} for e in employees])],
                    }])
        return team, employees

    def _clock(self, company, employee, *moves):
        pool = Pool()
        Line = pool.get('attendance.line')
        Line.create([{
                    'company': company.id, 'employee': employee.id,
                    'at': at, 'date': at.date(), 'type': type_,
                    } for at, type_ in moves])

    @with_transaction()
    def test_presence_from_attendance(self):
        """An agent not clocked in today, or clocked out, is away; clocked
        in, present"""
        pool = Pool()
        Date = pool.get('ir.date')
        Ticket = pool.get('crm.ticket')

        company = create_company()
        with set_company(company):
            team, (anna, omar, lea, sam) = self._team(
                company, ["Anna", "Omar", "Léa", "Sam"])
            today = Date.today()
            now = dt.datetime.combine(today, dt.time(0, 0))
            yesterday = now - dt.timedelta(days=1)
            # Anna: in then out; Omar: in; Léa: out then in again;
            # Sam: in yesterday only
            self._clock(company, anna,
                (now + dt.timedelta(minutes=1), 'in'),
                (now + dt.timedelta(minutes=2), 'out'))
            self._clock(company, omar, (now + dt.timedelta(minutes=1), 'in'))
            self._clock(company, lea,
                (now + dt.timedelta(minutes=1), 'in'),
                (now + dt.timedelta(minutes=2), 'out'),
                (now + dt.timedelta(minutes=3), 'in'))
            self._clock(company, sam, (yesterday, 'in'))

            away = Ticket._sla_away(company, list(team.members), today)
            self.assertEqual(away, {anna, sam})

            # another company's attendance does not count
            other = create_company("Other")
            self.assertEqual(
                Ticket._sla_away(other, list(team.members), today),
                {anna, omar, lea, sam})

    @with_transaction()
    def test_reassign_not_clocked_in(self):
        "A ticket of an agent not clocked in goes to a present colleague"
        pool = Pool()
        Date = pool.get('ir.date')
        Ticket = pool.get('crm.ticket')

        company = create_company()
        with set_company(company):
            team, (anna, omar) = self._team(company, ["Anna", "Omar"])
            now = dt.datetime.combine(Date.today(), dt.time(0, 0))
            self._clock(company, omar, (now, 'in'))
            ticket, = Ticket.create([{
                        'subject': "Broken", 'team': team.id,
                        'employee': anna.id,
                        }])
            Ticket._sla_reassign_absent([ticket])
            self.assertEqual(Ticket(ticket.id).employee, omar)

            # nobody clocked in: nobody to give it to, it stays
            self._clock(
                company, omar, (now + dt.timedelta(minutes=1), 'out'))
            Ticket._sla_reassign_absent([ticket])
            self.assertEqual(Ticket(ticket.id).employee, omar)

    @with_transaction()
    def test_complaint_errors(self):
        "No complaint from a cancelled ticket or one without customer"
        pool = Pool()
        Party = pool.get('party.party')
        Ticket = pool.get('crm.ticket')

        company = create_company()
        with set_company(company):
            customer, = Party.create([{'name': "Customer"}])
            anonymous, cancelled = Ticket.create([{
                        'subject': "Who?",
                        }, {
                        'subject': "Never mind", 'party': customer.id,
                        }])
            with self.assertRaisesRegex(UserError, 'set its customer'):
                anonymous.check_complaint()
            Ticket.cancel([cancelled])
            with self.assertRaisesRegex(UserError, 'reset it to new'):
                cancelled.check_complaint()
            Ticket.draft([cancelled])
            cancelled.check_complaint()

    @with_transaction()
    def test_timesheet_work_per_ticket(self):
        """One timesheet work per ticket, made once, in the ticket's company;
        the time and its cost summed per ticket"""
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        Work = pool.get('timesheet.work')
        Line = pool.get('timesheet.line')
        CostPrice = pool.get('company.employee_cost_price')

        company = create_company()
        with set_company(company):
            team, (anna, omar) = self._team(company, ["Anna", "Omar"])
            CostPrice.create([
                    {'employee': anna.id, 'cost_price': Decimal('30'),
                        'date': dt.date(2000, 1, 1)},
                    {'employee': omar.id, 'cost_price': Decimal('50'),
                        'date': dt.date(2000, 1, 1)},
                    ])
            first, second = Ticket.create([
                    {'subject': "First"}, {'subject': "Second"}])
            works = Ticket.get_timesheet_works([first, second])
            self.assertEqual(
                Ticket.get_timesheet_works([first, second]), works)
            self.assertEqual(Work.search([], count=True), 2)
            Line.create([
                    {'work': works[first].id, 'employee': anna.id,
                        'duration': dt.timedelta(minutes=30)},
                    {'work': works[first].id, 'employee': omar.id,
                        'duration': dt.timedelta(hours=2)},
                    ])
            first, second = Ticket.browse([first.id, second.id])
            self.assertEqual(
                first.timesheet_duration, dt.timedelta(hours=2.5))
            self.assertEqual(first.timesheet_cost, Decimal('115.00'))
            self.assertEqual(len(first.timesheet_lines), 2)
            self.assertEqual(
                (second.timesheet_duration, second.timesheet_cost,
                    second.timesheet_lines),
                (None, Decimal('0.00'), ()))

            other = create_company("Other")
            with self.assertRaises(CompanyValidationError):
                Work.create([{'origin': str(second), 'company': other.id}])
