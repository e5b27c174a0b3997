# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Automatic assignment of new leads to a team and a salesperson

Lock-free: the transaction of a new lead locks nothing and writes no shared
row; the round-robin turns come from counters that concurrent transactions
share without waiting (AssignmentTurnMixin: database sequences on
PostgreSQL)."""
import datetime as dt
import functools
import math
from collections import Counter, defaultdict

from sql.aggregate import Count, Max

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import AssignmentRuleDomainError
from .opportunity import LeadDomainMixin
from .team import AssignmentTurnMixin

OPEN_STATES = ('lead', 'opportunity')
MAX_WEIGHT = 1000


@functools.lru_cache(maxsize=256)
def weighted_order(weights):
    """Return the indexes of weights in smooth weighted round-robin order

    One period: each index i appears weights[i] / gcd times, spread evenly
    (2, 1 gives 0 1 0)."""
    gcd = functools.reduce(math.gcd, weights)
    weights = [w // gcd for w in weights]
    total = sum(weights)
    current = [0] * len(weights)
    order = []
    for _ in range(total):
        for i, weight in enumerate(weights):
            current[i] += weight
        chosen = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[chosen] -= total
        order.append(chosen)
    return tuple(order)


class Rule(
        AssignmentTurnMixin, LeadDomainMixin, DeactivableMixin,
        sequence_ordered(), ModelSQL, ModelView):
    """Routes the new leads that match its domain to its team; the sequence
    gives the priority and the weight shares the leads among the matching
    rules of the same sequence."""
    __name__ = 'crm.assignment.rule'
    __string__ = "CRM Assignment Rule"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    team = fields.Many2One(
        'crm.team', "Team", required=True, ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))])
    domain = fields.Char(
        "Domain", required=True,
        help="A PYSON domain on the leads the rule routes; "
        "empty brackets match every lead.")
    weight = fields.Integer(
        "Weight", required=True,
        domain=[
            ('weight', '>', 0),
            ('weight', '<=', MAX_WEIGHT),
            ],
        help="The share of the leads the rule receives among the matching "
        "rules of the same sequence (1 to 1000).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.append(('id', 'ASC'))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_weight(cls):
        return 1

    @classmethod
    def _domain_error(cls, rule, exception):
        return AssignmentRuleDomainError(
            gettext('crm_core.msg_assignment_rule_invalid_domain',
                rule=rule.rec_name, exception=exception))

    @classmethod
    def group(cls, rules):
        """Return the rules that share the leads among the matching rules:
        those of the lowest sequence, in order; the turns of the group are
        those of its first rule"""
        def sequence(rule):
            return rule.sequence if rule.sequence is not None else 2 ** 31
        first = min(map(sequence, rules))
        return sorted(
            (r for r in rules if sequence(r) == first),
            key=lambda r: r.id)

    @classmethod
    def choose(cls, rules, turn=0):
        """Return the rule of the group that receives the lead of the turn

        The rules of a group share the leads by smooth weighted round-robin,
        which spreads them evenly: the turn indexes its order."""
        if len(rules) == 1:
            return rules[0]
        order = weighted_order(tuple(r.weight for r in rules))
        return rules[order[turn % len(order)]]


class Member(metaclass=PoolMeta):
    __name__ = 'crm.team.member'

    absences = fields.One2Many(
        'crm.team.member.absence', 'member', "Absences")
    last_assignment = fields.Function(
        fields.Timestamp("Last Assignment",
            help="When the last lead of the team that the member has "
            "was created."),
        'get_last_assignment')
    open_leads = fields.Function(
        fields.Integer("Open Leads",
            help="The leads and opportunities assigned to the employee "
            "that are still open."),
        'get_open_leads')

    @classmethod
    def get_last_assignment(cls, members, name):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        table = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        last = {}
        for sub_members in grouped_slice(members, backend.MAX_QUERY_PARAMS):
            sub_members = list(sub_members)
            cursor.execute(*table.select(
                    table.team, table.employee, Max(table.create_date),
                    where=reduce_ids(
                        table.employee, [m.employee.id for m in sub_members])
                    & reduce_ids(table.team, [m.team.id for m in sub_members]),
                    group_by=[table.team, table.employee]))
            for team, employee, date in cursor:
                # SQLite returns the maximum of a timestamp as text
                if isinstance(date, str):
                    date = dt.datetime.fromisoformat(date)
                last[team, employee] = date
        return {m.id: last.get((m.team.id, m.employee.id)) for m in members}

    @classmethod
    def get_open_leads(cls, members, name):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        counts = Opportunity.count_open_leads({m.employee for m in members})
        return {m.id: counts.get(m.employee.id, 0) for m in members}

    def absence_on(self, date):
        "Return the absence of the member covering the date"
        for absence in self.absences:
            if absence.start_date <= date <= absence.end_date:
                return absence


class MemberAbsence(ModelSQL, ModelView):
    __name__ = 'crm.team.member.absence'
    __string__ = "Sales Team Member Absence"

    member = fields.Many2One(
        'crm.team.member', "Member", required=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    start_date = fields.Date(
        "Start Date", required=True,
        domain=[If(Eval('start_date') & Eval('end_date'),
                ('start_date', '<=', Eval('end_date')),
                ())])
    end_date = fields.Date(
        "End Date", required=True,
        domain=[If(Eval('start_date') & Eval('end_date'),
                ('end_date', '>=', Eval('start_date')),
                ())])
    reason = fields.Char("Reason")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]

    @fields.depends('member', '_parent_member.company')
    def on_change_with_company(self, name=None):
        return self.member.company if self.member else None

    def get_rec_name(self, name):
        return '%s: %s - %s' % (
            self.member.rec_name, self.start_date, self.end_date)

    @classmethod
    def search_company(cls, name, clause):
        return [('member.' + clause[0],) + tuple(clause[1:])]


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    assignment_note = fields.Text(
        "Assignment Note", readonly=True,
        help="Why the lead went to its team and salesperson.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'assign_now': {
                    'invisible': ~Eval('state').in_(list(OPEN_STATES)),
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                })
        t = cls.__table__()
        # The open leads of the members counted at each assignment
        cls._sql_indexes.add(
            Index(t, (t.employee, Index.Range()),
                where=t.state.in_(list(OPEN_STATES))))

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('assignment_note', None)
        return super().copy(opportunities, default=default)

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        super().on_modification(mode, opportunities, field_names=field_names)
        # The new leads without salesperson are routed by the rules (the
        # leads are not read when no rule may route them)
        if (mode == 'create' and Configuration(1).assignment_auto
                and cls._assignment_rules_exist()):
            cls.assign(
                [o for o in opportunities if not o.employee], auto=True)

    @classmethod
    @ModelView.button_action('crm_core.wizard_assignment_assign')
    def assign_now(cls, opportunities):
        pass

    @classmethod
    def count_open_leads(cls, employees):
        "Return {employee id: number of open leads} in one grouped query"
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        result = {}
        for sub_ids in grouped_slice(
                list(map(int, employees)), backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(table.employee, Count(table.id),
                    where=reduce_ids(table.employee, sub_ids)
                    & table.state.in_(OPEN_STATES),
                    group_by=[table.employee]))
            result.update(cursor)
        return result

    @classmethod
    def count_open_leads_upto(cls, limits):
        """Return {employee id: number of open leads, at most the limit} for
        {employee id: limit}

        Each count reads at most limit rows of the index of the open leads by
        salesperson, whatever the number of leads."""
        cursor = Transaction().connection.cursor()
        result = {}
        for employee, limit in limits.items():
            table = cls.__table__()
            open_ = table.select(table.id.as_('id'),
                where=(table.employee == employee)
                & table.state.in_(OPEN_STATES),
                limit=limit)
            cursor.execute(*open_.select(Count(open_.id)))
            result[employee], = cursor.fetchone()
        return result

    @classmethod
    def _assignment_rules_exist(cls):
        "Whether a rule of an active team may route the leads"
        pool = Pool()
        Rule = pool.get('crm.assignment.rule')
        with without_check_access():
            return bool(Rule.search([('team.active', '=', True)], limit=1))

    @classmethod
    def assign(cls, opportunities, force=False, auto=False):
        """Assign the open leads to a team and a salesperson by the rules

        Only the leads without salesperson unless force. The automatic
        assignment leaves alone the companies without any active rule.

        Nothing is locked and no shared row is written, so that concurrent
        transactions (a burst of web form posts) never wait for each other
        nor conflict: the turns come from the counters of the rules and the
        teams (take_turns). Among the members available for a lead, ordered
        by id, the one at the team's turn modulo their number gets it: while
        the available members stay the same, their counts differ by at most
        one."""
        pool = Pool()
        Rule = pool.get('crm.assignment.rule')
        Team = pool.get('crm.team')
        Member = pool.get('crm.team.member')
        Stage = pool.get('crm.stage')
        Date = pool.get('ir.date')

        if auto and not cls._assignment_rules_exist():
            return
        leads = [o for o in opportunities
            if o.state in OPEN_STATES and (force or not o.employee)]
        by_company = defaultdict(list)
        for lead in leads:
            by_company[lead.company].append(lead)

        to_write = defaultdict(list)
        with without_check_access():
            for company, leads in by_company.items():
                with Transaction().set_context(company=company.id):
                    today = Date.today()
                rules = Rule.search([
                        ('company', '=', company.id),
                        ('team.active', '=', True),
                        ])
                if not rules and auto:
                    continue
                matches = {}
                for rule in rules:
                    matches[rule] = set()
                    for sub_leads in grouped_slice(
                            leads, backend.MAX_QUERY_PARAMS):
                        matches[rule].update(map(int, cls.search([
                                        ('id', 'in', list(map(int, sub_leads))),
                                        rule.get_domain(),
                                        ], order=[])))
                leads = sorted(leads, key=lambda l: l.id)

                # The rule of each lead, by the turns of the groups
                groups = {}
                for lead in leads:
                    matched = [r for r in rules if lead.id in matches[r]]
                    if matched:
                        groups[lead] = Rule.group(matched)
                rule_turns = {r: iter(t) for r, t in Rule.take_turns(Counter(
                            g[0] for g in groups.values() if len(g) > 1)
                        ).items()}
                chosen_rules = {
                    lead: Rule.choose(
                        group, next(rule_turns[group[0]])
                        if len(group) > 1 else 0)
                    for lead, group in groups.items()}
                team_turns = {t: iter(n) for t, n in Team.take_turns(Counter(
                            r.team for r in chosen_rules.values())).items()}

                members = Member.search([
                        ('team', 'in', list({r.team.id for r in rules})),
                        ('team.active', '=', True),
                        ], order=[('id', 'ASC')])
                team_members = defaultdict(list)
                for member in members:
                    team_members[member.team].append(member)
                employees = {m.employee for m in members}
                # Counted only against a capacity, one over it at most (a
                # reassigned lead is taken off its salesperson's count)
                open_leads = cls.count_open_leads_upto({
                        m.employee.id: m.capacity + 1 for m in members
                        if m.capacity is not None})
                with Transaction().set_context(date=today):
                    active = {e: e.active for e in employees}

                for lead in leads:
                    values = {}
                    if lead not in chosen_rules:
                        values['assignment_note'] = gettext(
                            'crm_core.msg_assignment_no_rule')
                        to_write[tuple(sorted(values.items()))].append(lead)
                        continue
                    rule = chosen_rules[lead]
                    team = rule.team
                    # Taken for every lead routed to the team, so that the
                    # turns taken in one transaction are as many as planned
                    turn = next(team_turns[team])
                    if lead.employee:
                        # A reassigned lead does not count against the
                        # capacity of its current salesperson
                        open_leads[lead.employee.id] = (
                            open_leads.get(lead.employee.id, 1) - 1)
                    values['team'] = team.id
                    if (lead.stage and lead.stage.team
                            and lead.stage.team != team):
                        stage = Stage.get_first(lead.state, team)
                        values['stage'] = stage.id if stage else None
                    lines = [gettext('crm_core.msg_assignment_rule',
                            rule=rule.rec_name, team=team.rec_name)]
                    eligible = []
                    for member in team_members[team]:
                        employee = member.employee
                        absence = member.absence_on(today)
                        count = open_leads.get(employee.id, 0)
                        if not active[employee]:
                            lines.append(gettext(
                                    'crm_core.msg_assignment_skip_employee',
                                    member=member.rec_name, date=today))
                        elif absence:
                            lines.append(gettext(
                                    'crm_core.msg_assignment_skip_absent',
                                    member=member.rec_name,
                                    date=absence.end_date,
                                    reason=(' (%s)' % absence.reason
                                        if absence.reason else '')))
                        elif (member.capacity is not None
                                and count >= member.capacity):
                            lines.append(gettext(
                                    'crm_core.msg_assignment_skip_capacity',
                                    member=member.rec_name,
                                    count=count, capacity=member.capacity))
                        else:
                            eligible.append(member)
                    if eligible:
                        chosen = eligible[turn % len(eligible)]
                        employee = chosen.employee
                        if chosen.capacity is not None:
                            chosen_line = gettext(
                                'crm_core.msg_assignment_chosen',
                                member=chosen.rec_name,
                                turn=turn + 1,
                                available=len(eligible),
                                count=open_leads.get(employee.id, 0),
                                capacity=chosen.capacity)
                        else:
                            chosen_line = gettext(
                                'crm_core.msg_assignment_chosen_unlimited',
                                member=chosen.rec_name,
                                turn=turn + 1,
                                available=len(eligible))
                        lines.insert(1, chosen_line)
                        values['employee'] = employee.id
                        open_leads[employee.id] = (
                            open_leads.get(employee.id, 0) + 1)
                    elif lead.employee:
                        lines.insert(1, gettext(
                                'crm_core.msg_assignment_nobody_kept',
                                team=team.rec_name))
                        values.pop('team')
                        values.pop('stage', None)
                        if lead.employee.id in open_leads:
                            open_leads[lead.employee.id] += 1
                    else:
                        lines.insert(1, gettext(
                                'crm_core.msg_assignment_nobody',
                                team=team.rec_name))
                    values['assignment_note'] = '\n'.join(lines)
                    to_write[tuple(sorted(values.items()))].append(lead)

            args = []
            for values, records in to_write.items():
                args.extend((records, dict(values)))
            if args:
                cls.write(*args)


class Assign(Wizard):
    "Assign Leads"
    __name__ = 'crm.assignment.assign'
    start = StateView('crm.assignment.assign.start',
        'crm_core.assignment_assign_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Assign", 'assign', 'tryton-ok', default=True),
            ])
    assign = StateTransition()

    def transition_assign(self):
        self.model.assign(self.records, force=self.start.force)
        return 'end'


class AssignStart(ModelView):
    __name__ = 'crm.assignment.assign.start'
    __string__ = "Assign Leads"

    force = fields.Boolean(
        "Reassign",
        help="Check to reassign also the leads that have a salesperson.")
