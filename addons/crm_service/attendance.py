# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Presence from the host's attendance: an agent not clocked in is away"""
from sql.aggregate import Max

from trytond import backend
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction


class Ticket(metaclass=PoolMeta):
    __name__ = 'crm.ticket'

    @classmethod
    def _sla_away(cls, company, members, date):
        """An agent whose last attendance of the day in the company is not
        'in' (clocked out, or not clocked in at all) is away too"""
        away = super()._sla_away(company, members, date)
        employees = {m.employee for m in members} - away
        clocked_in = cls._attendance_clocked_in(company, employees, date)
        return away | {e for e in employees if e.id not in clocked_in}

    @classmethod
    def _attendance_clocked_in(cls, company, employees, date):
        "Return the ids of the employees clocked in the company on the date"
        pool = Pool()
        Line = pool.get('attendance.line')
        line = Line.__table__()
        last = Line.__table__()
        cursor = Transaction().connection.cursor()
        clocked_in = set()
        for sub_ids in grouped_slice([e.id for e in employees], backend.MAX_QUERY_PARAMS):
            where = ((last.company == company.id) & (last.date == date)
                & reduce_ids(last.employee, sub_ids))
            latest = last.select(
                last.employee, Max(last.at).as_('at'),
                where=where, group_by=[last.employee])
            cursor.execute(*line.join(latest,
                    condition=(line.employee == latest.employee)
                    & (line.at == latest.at)).select(
                    line.employee,
                    where=(line.company == company.id)
                    & (line.date == date),
                    group_by=[line.employee],
                    having=Max(line.type) == 'in'))
            clocked_in.update(e for e, in cursor)
        return clocked_in
