from helo_stream.cli import main

main()
