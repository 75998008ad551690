CREATE DATABASE palmetto_client;
CREATE DATABASE palmetto_palmetto;
CREATE DATABASE palmetto_courier;
