from threadline.cli.main import app

app()
