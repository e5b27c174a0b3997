# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The helpdesk reports: backlog, SLA compliance, times, their XLSX export
and their access"""
import datetime as dt
import io
import unittest

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

JAN = {'from_date': dt.date(2026, 1, 1), 'to_date': dt.date(2026, 1, 31)}


def at(day, hour, minute=0):
    return dt.datetime(2026, 1, day, hour, minute)


class HelpdeskReportingTestCase(unittest.TestCase):
    "Test the helpdesk reports"

    @classmethod
    def setUpClass(cls):
        activate_module('crm_service')

    def _data(self, company):
        "Tickets of January 2026 and a backlog of today"
        pool = Pool()
        Calendar = pool.get('crm.business.calendar')
        Category = pool.get('crm.ticket.category')
        Interval = pool.get('crm.business.calendar.interval')
        Policy = pool.get('crm.sla.policy')
        Team = pool.get('crm.team')
        Ticket = pool.get('crm.ticket')

        ann, bob = [create_employee(company, n) for n in ["Ann", "Bob"]]
        team = Team(name="Support", kind='service',
            members=[{'employee': ann}, {'employee': bob}])
        team.save()
        billing = Category(name="Billing")
        billing.save()
        calendar = Calendar(name="Always", timezone='UTC', company=company,
            intervals=[Interval(weekday=str(d), start=dt.time(0),
                    end=dt.time(0)) for d in range(7)])
        calendar.save()
        policy, = Policy.create([{
                    'name': "Standard", 'calendar': calendar.id,
                    'response_time': dt.timedelta(hours=1),
                    'resolution_time': dt.timedelta(hours=10),
                    }])
        now = dt.datetime.now().replace(second=0, microsecond=0)
        common = {'subject': "Help", 'team': team.id}
        Ticket.create([{
                    # answered and resolved in time
                    **common, 'employee': ann.id, 'priority': '2',
                    'category': billing.id, 'state': 'closed',
                    'sla_policy': policy.id,
                    'reported_date': at(5, 8),
                    'first_response_date': at(5, 8, 30),
                    'resolved_date': at(5, 12), 'closed_date': at(5, 13),
                    }, {
                    # both late
                    **common, 'employee': bob.id, 'state': 'resolved',
                    'sla_policy': policy.id,
                    'reported_date': at(6, 9),
                    'first_response_date': at(6, 11),
                    'response_breached': True,
                    'resolved_date': at(7, 9), 'resolution_breached': True,
                    }, {
                    **common, 'employee': ann.id, 'state': 'cancelled',
                    'reported_date': at(14, 10),
                    }, {
                    # the backlog: unanswered past its response deadline
                    **common, 'employee': ann.id, 'priority': '3',
                    'reported_date': now - dt.timedelta(hours=2),
                    }, {
                    'subject': "Nobody", 'priority': '0',
                    'reported_date': now - dt.timedelta(days=10),
                    }, {
                    **common, 'employee': bob.id, 'state': 'waiting',
                    'reported_date': now - dt.timedelta(days=40),
                    'first_response_date': now - dt.timedelta(days=39),
                    }])
        return team, ann, bob

    @with_transaction()
    def test_backlog(self):
        "The backlog counts the open tickets by age"
        pool = Pool()
        Backlog = pool.get('crm.ticket.backlog')

        company = create_company()
        with set_company(company):
            team, ann, bob = self._data(company)
            with Transaction().set_context(
                    company=company.id, dimension='team'):
                self.assertEqual(
                    [(r.team, r.number, r.age_day, r.age_week, r.age_month,
                            r.age_older, r.unassigned, r.waiting)
                        for r in Backlog.search([])],
                    [(None, 1, 0, 0, 1, 0, 1, 0),
                        (team, 2, 1, 0, 0, 1, 0, 1)])
            with Transaction().set_context(company=company.id,
                    dimension='priority'):
                self.assertEqual(
                    [(r.dimension_name, r.number)
                        for r in Backlog.search([])],
                    [("Urgent", 1), ("Normal", 1), ("Low", 1)])
            with Transaction().set_context(company=company.id,
                    dimension=None, employee=bob.id):
                row, = Backlog.search([])
                self.assertEqual(
                    (row.dimension_name, row.number, row.employee),
                    (company.rec_name, 1, None))

    @with_transaction()
    def test_backlog_period(self):
        "Reported against resolved tickets, per week or month"
        pool = Pool()
        BacklogPeriod = pool.get('crm.ticket.backlog.period')

        company = create_company()
        with set_company(company):
            team, ann, bob = self._data(company)
            for period, date in [
                    ('week', dt.date(2026, 1, 5)),
                    ('month', dt.date(2026, 1, 1)),
                    ]:
                with Transaction().set_context(company=company.id,
                        period=period, dimension=None, **JAN):
                    self.assertEqual(
                        [(r.date, r.reported, r.resolved, r.balance)
                            for r in BacklogPeriod.search([])],
                        [(date, 2, 2, 0)])
            with Transaction().set_context(company=company.id,
                    period='day', dimension='employee', **JAN):
                self.assertEqual(
                    [(r.date, r.employee, r.reported, r.resolved)
                        for r in BacklogPeriod.search([])],
                    [(dt.date(2026, 1, 5), ann, 1, 1),
                        (dt.date(2026, 1, 6), bob, 1, 0),
                        (dt.date(2026, 1, 7), bob, 0, 1)])

    @with_transaction()
    def test_sla_compliance(self):
        "Met and breached targets, first response and resolution apart"
        pool = Pool()
        Compliance = pool.get('crm.ticket.sla.compliance')

        company = create_company()
        with set_company(company):
            team, ann, bob = self._data(company)
            with Transaction().set_context(company=company.id,
                    period='month', dimension='employee', **JAN):
                self.assertEqual(
                    [(r.employee, r.number, r.response_met,
                            r.response_breached, r.response_rate,
                            r.resolution_met, r.resolution_breached,
                            r.resolution_rate)
                        for r in Compliance.search([])],
                    [(ann, 1, 1, 0, 1, 1, 0, 1),
                        (bob, 1, 0, 1, 0, 0, 1, 0)])
            # the running tickets past their deadlines count as breached
            # before the sweep records it
            with Transaction().set_context(company=company.id,
                    period='month', dimension='priority'):
                rows = {r.priority: r for r in Compliance.search([
                            ('date', '>', dt.date(2026, 1, 31)),
                            ])}
                self.assertEqual(
                    (rows['3'].response_breached,
                        rows['3'].resolution_breached,
                        rows['0'].response_breached,
                        rows['0'].resolution_breached),
                    (1, 0, 1, 1))

    @with_transaction()
    def test_time(self):
        "Average and longest hours to the first response and resolution"
        pool = Pool()
        Time = pool.get('crm.ticket.time')

        company = create_company()
        with set_company(company):
            team, ann, bob = self._data(company)
            with Transaction().set_context(company=company.id,
                    period='month', dimension='team', **JAN):
                row, = Time.search([])
                self.assertEqual(
                    (row.team, row.number, row.responded, row.resolved),
                    (team, 2, 2, 2))
                self.assertAlmostEqual(row.response_hours, 1.25)
                self.assertAlmostEqual(row.response_hours_max, 2)
                self.assertAlmostEqual(row.resolution_hours, 14)
                self.assertAlmostEqual(row.resolution_hours_max, 24)
            with Transaction().set_context(company=company.id,
                    period='day', dimension=None, **JAN):
                self.assertEqual(
                    [(r.date, round(r.response_hours, 2),
                            round(r.resolution_hours, 2))
                        for r in Time.search([])],
                    [(dt.date(2026, 1, 5), 0.5, 4),
                        (dt.date(2026, 1, 6), 2, 24)])

    @with_transaction()
    def test_xlsx(self):
        "The shown rows export to a spreadsheet, headers in the language"
        import openpyxl
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        Compliance = pool.get('crm.ticket.sla.compliance')
        Time = pool.get('crm.ticket.time')
        Report = pool.get('crm.reporting.xlsx', type='report')

        company = create_company()
        with set_company(company):
            self._data(company)
            for Model in [
                    'crm.ticket.backlog', 'crm.ticket.backlog.period',
                    'crm.ticket.sla.compliance', 'crm.ticket.time']:
                self.assertEqual(ActionReport.search([
                            ('report_name', '=', 'crm.reporting.xlsx'),
                            ('model', '=', Model),
                            ], count=True), 1)
            with Transaction().set_context(company=company.id,
                    period='month', dimension='employee', **JAN):
                content = Report.render_xlsx(
                    Compliance, Compliance.search([]))
                sheet = openpyxl.load_workbook(io.BytesIO(content)).active
                rows = list(sheet.iter_rows(values_only=True))
                self.assertEqual(rows[0][:3], ("Date", "Name", "Tickets"))
                self.assertEqual(rows[1][:3],
                    (dt.datetime(2026, 1, 1), "Ann", 1))
                self.assertEqual(sheet['F2'].number_format, '0.0%')
                self.assertEqual(rows[2][5], 0)

                content = Report.render_xlsx(Time, Time.search([]))
                sheet = openpyxl.load_workbook(io.BytesIO(content)).active
                self.assertEqual(sheet['E1'].value, "First Response (Hours)")
                self.assertEqual(sheet['E2'].value, 0.5)
                self.assertEqual(sheet['E2'].number_format, '#,##0.0')

    @with_transaction()
    def test_access(self):
        "Agents and managers read the reports of their companies only"
        pool = Pool()
        Backlog = pool.get('crm.ticket.backlog')
        Group = pool.get('res.group')
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')

        company = create_company()
        other = create_company("Other")
        with set_company(company):
            self._data(company)
        agent_group = Group(ModelData.get_id(
                'crm_service', 'group_service_agent'))
        agent = User(login='agent', companies=[company], company=company,
            groups=[agent_group])
        stranger = User(login='stranger', companies=[company],
            company=company)
        User.save([agent, stranger])
        for name in [
                'crm.ticket.backlog', 'crm.ticket.backlog.period',
                'crm.ticket.sla.compliance', 'crm.ticket.time']:
            Model = pool.get(name)
            with Transaction().set_user(agent.id), \
                    Transaction().set_context(
                        _check_access=True, company=company.id, **JAN):
                Model.search([])
            with Transaction().set_user(stranger.id), \
                    Transaction().set_context(
                        _check_access=True, company=company.id):
                with self.assertRaises(AccessError):
                    Model.search([])
        with Transaction().set_user(agent.id), \
                Transaction().set_context(
                    _check_access=True, company=company.id):
            self.assertEqual(
                sum(r.number for r in Backlog.search([])), 3)
        # another company's figures stay out even when asked for
        with Transaction().set_user(agent.id), \
                Transaction().set_context(
                    _check_access=True, company=other.id):
            self.assertEqual(Backlog.search([]), [])
