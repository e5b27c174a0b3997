# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import sqlite3
import time
import unittest

from .tools import BrowserTestCase, artifacts_on_failure

CUSTOMER = 'Boulangerie Dupont SARL'

#: Record the model reads sao sends: [model, number of ids, fields]
RECORD_READS = '''
window.crmReads = [];
if (!Sao.rpc.crmRecorded) {
    const rpc = Sao.rpc;
    // the other functions of Sao.rpc stay as they are
    Sao.rpc = Object.assign(function(args, ...rest) {
        const match = /^model\\.(.+)\\.read$/.exec(args.method);
        if (match) {
            window.crmReads.push(
                [match[1], args.params[0].length, args.params[1]]);
        }
        return rpc.call(this, args, ...rest);
    }, rpc, {crmRecorded: true});
}
'''


class CustomerBrowserTest(BrowserTestCase):
    """The customer's CRM tab in sao: what the user sees and what it reads

    The benchmark of the 360° view (bench/bench_party_360.py) models these
    reads: opening the customer reads the form, no list of the CRM tab; a
    list is read when the user shows its page and it comes into view, one
    batch of rows."""
    demo = True

    def query(self, sql, *args):
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def reads(self):
        "Return the reads recorded since the last call"
        reads = self.driver.execute_script(
            'const r = window.crmReads; window.crmReads = []; return r;')
        return [(model, count) for model, count, _ in reads]

    def settle(self):
        "Wait until sao sends no more requests"
        self.sao.wait(lambda driver: driver.execute_script(
                'return jQuery.active') == 0, 'requests do not end')
        time.sleep(0.5)
        self.sao.wait(lambda driver: driver.execute_script(
                'return jQuery.active') == 0, 'requests do not end')

    @artifacts_on_failure
    def test_crm_tab(self):
        "The CRM tab shows the timeline first; each list loads when shown"
        sao = self.sao
        (party_id,), = self.query(
            "SELECT id FROM party_party WHERE name = ?", CUSTOMER)
        (sales,), = self.query(
            "SELECT COUNT(*) FROM sale_sale WHERE party = ?", party_id)
        self.assertGreater(sales, 0)

        pane = sao.open('Parties', 'Parties')
        sao.view(pane, 'tree')
        self.driver.execute_script(RECORD_READS)
        row = sao.wait(lambda driver: next((r for r in pane.find_elements(
                        'css selector', 'table.tree tbody > tr')
                    if CUSTOMER in r.text), None), f'no {CUSTOMER!r}')
        row.find_elements('css selector', 'td')[-1].click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        self.settle()
        opening = self.reads()
        models = [m for m, _ in opening]
        self.assertIn('party.party', models)
        # no list of the CRM tab is read before its page is shown
        for model in ['sale.opportunity', 'sale.sale', 'account.invoice',
                'stock.shipment.out']:
            self.assertNotIn(model, models, opening)

        sao.page(form, 'CRM')
        self.settle()
        crm_pages = [p for p in sao.pages(form) if p in {
                'Timeline', 'Open Opportunities', 'Quotations and Sales',
                'Invoices', 'Deliveries'}]
        self.assertEqual(crm_pages, [
                'Timeline', 'Open Opportunities', 'Quotations and Sales',
                'Invoices', 'Deliveries'])
        # the timeline, the first page of the tab, is read once shown
        timeline = [e for e in form.find_elements(
                'css selector', '.form-many2many') if e.is_displayed()
            and 'Timeline' in e.text][-1]
        self.driver.execute_script('arguments[0].scrollIntoView()', timeline)
        self.settle()
        (model, count), = self.reads()
        self.assertEqual(model, 'crm.timeline')
        events = [r for r in timeline.find_elements(
                'css selector', 'table.tree tbody > tr')
            if r.is_displayed() and r.text.strip()]
        self.assertEqual(len(events), min(count, 20))

        sao.page(form, 'Quotations and Sales')
        self.settle()
        # the rows are read once the list is scrolled into view
        sales_list = [e for e in form.find_elements(
                'css selector', '.form-many2many') if e.is_displayed()
            and 'Quotations and Sales' in e.text][-1]
        self.driver.execute_script(
            'arguments[0].scrollIntoView()', sales_list)
        self.settle()
        clicked = self.reads()
        self.assertEqual(
            [(m, n) for m, n in clicked if m == 'sale.sale'],
            [('sale.sale', min(sales, 100))], clicked)
        rows = [r for r in sales_list.find_elements(
                'css selector', 'table.tree tbody > tr')
            if r.is_displayed() and r.text.strip()]
        self.assertEqual(len(rows), min(sales, 20))


if __name__ == '__main__':
    unittest.main()
