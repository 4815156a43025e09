class OrderFlow(Workflow, version=1):
    def run(self, input):
        charge = charge_card(input["card"], input["amount"])
        approval = continuum.wait_for_signal("approval", timeout=86400)
        if continuum.patched("send-receipt"):
            send_receipt(charge)
        return {"charge": charge, "approved": approval}
