import ElastosCLI
ElastosCommand.main()
